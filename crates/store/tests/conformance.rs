//! The store conformance suite: every operation of [`Db`], the transaction semantics of
//! [`Store`], and the schema's last line of defence, run once per backend.
//!
//! Each test is a plain `async fn(Fixture) -> Outcome` that knows nothing of the backend it
//! runs on. The `conformance!` invocation at the bottom stamps every test once per backend, as
//! `<backend>::<test>`, so a failure names its backend and `cargo test sqlite::` runs one
//! backend alone. A test written here but left out of that list is dead code, which the
//! workspace's `clippy -D warnings` refuses, so no test can silently stop running.
//!
//! A backend is one entry: a function like [`sqlite`] that returns a [`Fixture`] on a fresh,
//! empty database of that backend, and its name in the `backends` list at the bottom.
//! PostgreSQL's (a throwaway database on the server that `BERTH_TEST_POSTGRES_URL` names) is
//! stamped with the `postgres-tests` feature: `cargo test -p berth-store --features
//! postgres-tests`, as `scripts/test` runs it. The tests keep to what every backend
//! shares: a statement the database refuses ends its transaction (PostgreSQL aborts the whole
//! transaction there), and what it left behind is checked from a fresh connection.

use store::{
    AccountRow, ApiKeyRow, Backend, Db, EntityGrantRow, EventRow, Failure, FirewallRow, GroupRow, HostRow, InstanceRow,
    LeaseRow, MemberRow, MigrationRow, NewEvent, NewGroup, NewHost, NewInstance, NewMigration, OperationRow, RegionRow,
    RepairNoteRow, Size, Store, StoreError, TokenRow, Violation,
};

/// Stamps every test once per backend: `backends` are functions returning a [`Fixture`],
/// `tests` are functions taking one.
macro_rules! conformance {
    (backends: [$($(#[$attribute:meta])* $backend:ident),+ $(,)?], tests: $tests:tt $(,)?) => {
        $(conformance!(@stamp [$(#[$attribute])*] $backend $tests);)+
    };
    (@stamp [$(#[$attribute:meta])*] $backend:ident [$($test:ident),+ $(,)?]) => {
        $(#[$attribute])*
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() -> super::Outcome {
                    super::$test(super::$backend().await).await
                }
            )+
        }
    };
}

/// What a test returns: a store error fails the test with its whole chain.
type Outcome = Result<(), StoreError>;

/// A store on a fresh, empty database of one backend.
struct Fixture {
    /// The backend the store must report.
    backend: Backend,
    /// What [`Store::open`] takes to reach this same database again.
    url: String,
    store: Store,
    /// Whatever must outlive the database: for SQLite, the directory that holds its file.
    /// Declared last so that it is dropped after the store.
    _place: Box<dyn Send>,
}

impl Fixture {
    /// Closes the store and opens the same database again, as a restarted process would.
    async fn reopen(&mut self) -> Outcome {
        self.store.close().await;
        self.store = Store::open(&self.url).await?;
        Ok(())
    }
}

/// SQLite: a new file in a new temporary directory.
async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = dir.path().join("berth.db").to_str().expect("a UTF-8 temporary path").to_string();
    let store = Store::open(&url).await.expect("a fresh SQLite store");
    Fixture { backend: Backend::Sqlite, url, store, _place: Box::new(dir) }
}

/// PostgreSQL: a new database on the server that `BERTH_TEST_POSTGRES_URL` names. Stamped only
/// with the `postgres-tests` feature, which `scripts/test` turns on after starting a server.
#[cfg(feature = "postgres-tests")]
async fn postgres() -> Fixture {
    let server = store::testing::postgres_server()
        .expect("the postgres-tests feature needs BERTH_TEST_POSTGRES_URL: a PostgreSQL server to create databases on");
    let url = store::testing::postgres_database(&server).await.expect("a fresh PostgreSQL database");
    let store = Store::open(&url).await.expect("a fresh PostgreSQL store");
    Fixture { backend: Backend::Postgres, url, store, _place: Box::new(()) }
}

// Test data. Times are fixed so that every stored time can be asserted exactly.

const NOW: i64 = 1_700_000_000_000;
const LATER: i64 = NOW + 60_000;

/// The capacity of every host the tests create unless they say otherwise.
const BIG: Size = Size { vcpus: 32, memory_mib: 131_072, disk_mib: 1_048_576, gpus: 4 };
/// The size of every instance the tests create unless they say otherwise.
const SMALL: Size = Size { vcpus: 1, memory_mib: 1024, disk_mib: 25_600, gpus: 0 };

/// Two accounts, and two regions with hosts in them: enough of a world for most tests.
struct World {
    alice: i64,
    bob: i64,
    east: [i64; 2],
    west: i64,
}

async fn world(db: &mut Db<'_>) -> Result<World, StoreError> {
    let alice = db.account_insert("alice", NOW).await?.id;
    let bob = db.account_insert("bob", NOW).await?.id;
    db.region_insert(&region("us-east")).await?;
    db.region_insert(&region("us-west")).await?;
    let east_1 = db.host_insert(&new_host("east-1", "us-east", "active", BIG), NOW).await?.id;
    let east_2 = db.host_insert(&new_host("east-2", "us-east", "active", BIG), NOW).await?.id;
    let west = db.host_insert(&new_host("west-1", "us-west", "active", BIG), NOW).await?.id;
    Ok(World { alice, bob, east: [east_1, east_2], west })
}

fn region(id: &str) -> RegionRow {
    RegionRow {
        id: id.to_string(),
        label: format!("Region {id}"),
        country: "us".to_string(),
        site_type: "core".to_string(),
        status: "ok".to_string(),
        max_members_per_group: 5,
        max_groups_per_account: Some(10),
        created_at: NOW,
    }
}

fn new_host(name: &str, region_id: &str, state: &str, size: Size) -> NewHost {
    NewHost {
        uuid: format!("uuid-host-{name}"),
        name: name.to_string(),
        region_id: region_id.to_string(),
        rack: "rack-1".to_string(),
        state: state.to_string(),
        size,
        labels: "{}".to_string(),
    }
}

fn new_group(account_id: i64, label: &str, region_id: Option<&str>) -> NewGroup {
    NewGroup {
        uuid: format!("uuid-group-{account_id}-{label}"),
        account_id,
        label: label.to_string(),
        description: format!("the {label} group"),
        region_id: region_id.map(str::to_string),
        kind: "anti-affinity".to_string(),
        policy: "strict".to_string(),
        domain: "host".to_string(),
        max_per_domain: 1,
        max_members: None,
    }
}

fn new_instance(account_id: i64, label: &str, region_id: &str, host_id: i64) -> NewInstance {
    NewInstance {
        uuid: format!("uuid-instance-{account_id}-{label}"),
        account_id,
        label: label.to_string(),
        region_id: region_id.to_string(),
        type_id: "g6-nanode-1".to_string(),
        size: SMALL,
        host_id,
        state: "running".to_string(),
        image: Some("linode/debian12".to_string()),
        tags: "[]".to_string(),
        firewall_id: None,
        labels: "{}".to_string(),
    }
}

/// A migration of one of alice's instances between the two hosts of us-east.
fn new_migration(world: &World, instance_id: i64, due_at: i64) -> NewMigration {
    NewMigration {
        account_id: world.alice,
        instance_id,
        source_host_id: world.east[0],
        target_host_id: world.east[1],
        source_region_id: "us-east".to_string(),
        target_region_id: "us-east".to_string(),
        source_group_id: None,
        target_group_id: None,
        reason: "repair".to_string(),
        due_at,
        state: "running".to_string(),
        plan_id: None,
    }
}

fn used(host: &HostRow) -> Size {
    Size {
        vcpus: host.used_vcpus,
        memory_mib: host.used_memory_mib,
        disk_mib: host.used_disk_mib,
        gpus: host.used_gpus,
    }
}

fn add(a: Size, b: Size) -> Size {
    Size {
        vcpus: a.vcpus + b.vcpus,
        memory_mib: a.memory_mib + b.memory_mib,
        disk_mib: a.disk_mib + b.disk_mib,
        gpus: a.gpus + b.gpus,
    }
}

/// A host as committed, read outside any change.
async fn committed_host(store: &Store, id: i64) -> Result<HostRow, StoreError> {
    Ok(store.read().await?.db().host_get(id).await?.expect("the host exists"))
}

/// Whether a result is the database refusing a change through a CHECK constraint.
fn is_check_violation<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(error) if error.violation() == Some(Violation::Check))
}

/// Whether a result is the database refusing a change through a UNIQUE constraint.
fn is_unique_violation<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(error) if error.violation() == Some(Violation::Unique))
}

/// Whether a result is the database refusing a change through a FOREIGN KEY constraint.
fn is_foreign_key_violation<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(error) if error.violation() == Some(Violation::ForeignKey))
}

fn ids<T>(rows: &[T], id: impl Fn(&T) -> i64) -> Vec<i64> {
    rows.iter().map(id).collect()
}

fn member_pairs(rows: &[MemberRow]) -> Vec<(i64, i64)> {
    rows.iter().map(|row| (row.group_id, row.instance_id)).collect()
}

// The store itself.

async fn the_store_and_its_connections_report_their_backend(f: Fixture) -> Outcome {
    assert_eq!(f.store.backend(), f.backend);
    assert_eq!(f.store.read().await?.db().backend(), f.backend);
    assert_eq!(f.store.write().await?.db().backend(), f.backend);
    Ok(())
}

async fn ping_answers_on_an_open_store(f: Fixture) -> Outcome {
    f.store.ping().await?;
    f.store.ping().await?;
    Ok(())
}

async fn a_transaction_dropped_without_commit_leaves_nothing_behind(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let account = db.account_insert("alice", NOW).await?;
    db.meta_set("schema", "dropped").await?;
    assert_eq!(db.account_get(account.id).await?, Some(account.clone()), "a change sees its own writes");
    drop(tx);

    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().account_get(account.id).await?, None);
    assert_eq!(conn.db().meta_get("schema").await?, None);
    drop(conn);

    // The one writer is free again, and the rolled-back name can be taken.
    let mut tx = f.store.write().await?;
    let again = tx.db().account_insert("alice", NOW).await?;
    tx.commit().await?;
    assert_eq!(f.store.read().await?.db().account_get(again.id).await?, Some(again));
    Ok(())
}

/// Changes that arrive together (on SQLite: one group, one transaction, one commit) are
/// each kept whole or not at all: of 30 changes started at once, those that commit are all
/// there after the store is closed and opened again, and those dropped, or refused by the
/// database halfway (a duplicate name after a first write), left nothing behind.
async fn changes_started_together_are_each_kept_whole_or_not_at_all(mut f: Fixture) -> Outcome {
    let mut changes = Vec::new();
    for number in 0..30 {
        let store = f.store.clone();
        changes.push(tokio::spawn(async move {
            let mut tx = store.write().await?;
            let mut db = tx.db();
            let name = format!("account-{number}");
            db.account_insert(&name, NOW).await?;
            db.meta_set(&format!("key-{number}"), "written").await?;
            match number % 3 {
                0 => tx.commit().await.map(|()| true),
                1 => Ok(false),
                // The same name again: the database refuses the statement, and the change is
                // given up whole.
                _ => match db.account_insert(&name, NOW).await {
                    Err(error) if error.violation() == Some(Violation::Unique) => Ok(false),
                    Err(error) => Err(error),
                    Ok(_) => panic!("a second account named {name} was taken"),
                },
            }
        }));
    }
    let mut committed = Vec::new();
    for (number, change) in changes.into_iter().enumerate() {
        if change.await.expect("a change runs to its end")? {
            committed.push(number);
        }
    }
    assert_eq!(committed, (0..30).filter(|n| n % 3 == 0).collect::<Vec<_>>());

    f.reopen().await?;
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    for number in 0..30 {
        let kept = db.meta_get(&format!("key-{number}")).await?;
        assert_eq!(kept.is_some(), number % 3 == 0, "change {number}");
    }
    let names: Vec<String> = db.accounts().await?.into_iter().map(|a| a.name).collect();
    let expected: Vec<String> = (0..30).filter(|n| n % 3 == 0).map(|n| format!("account-{n}")).collect();
    let mut names = names.into_iter().filter(|n| n.starts_with("account-")).collect::<Vec<_>>();
    names.sort();
    let mut expected = expected;
    expected.sort();
    assert_eq!(names, expected);
    Ok(())
}

async fn a_change_is_invisible_to_readers_until_it_commits(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let account = tx.db().account_insert("alice", NOW).await?;
    assert_eq!(f.store.read().await?.db().account_get(account.id).await?, None);
    tx.commit().await?;
    assert_eq!(f.store.read().await?.db().account_get(account.id).await?, Some(account));
    Ok(())
}

async fn a_snapshot_sees_one_instant_across_its_reads(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let first = tx.db().account_insert("alice", NOW).await?;
    tx.commit().await?;

    let mut snapshot = f.store.snapshot().await?;
    assert_eq!(snapshot.db().backend(), f.backend);
    assert_eq!(snapshot.db().accounts().await?, vec![first.clone()]);
    // A change that commits while the snapshot is open: a plain read sees it at once, the
    // snapshot's later reads do not, so what they compare was true at one instant.
    let mut tx = f.store.write().await?;
    let second = tx.db().account_insert("bob", NOW).await?;
    tx.db().meta_set("seen", "after").await?;
    tx.commit().await?;
    assert_eq!(f.store.read().await?.db().account_get(second.id).await?, Some(second.clone()));
    assert_eq!(snapshot.db().account_get(second.id).await?, None);
    assert_eq!(snapshot.db().meta_get("seen").await?, None);
    assert_eq!(snapshot.db().accounts().await?, vec![first.clone()]);
    drop(snapshot);

    let mut snapshot = f.store.snapshot().await?;
    assert_eq!(snapshot.db().accounts().await?, vec![first, second]);
    assert_eq!(snapshot.db().meta_get("seen").await?, Some("after".to_string()));
    Ok(())
}

async fn a_plain_read_connection_cannot_change_anything(f: Fixture) -> Outcome {
    let mut conn = f.store.read().await?;
    assert!(conn.db().account_insert("alice", NOW).await.is_err(), "every change goes through a Tx");
    drop(conn);
    assert_eq!(f.store.read().await?.db().accounts().await?, Vec::new());
    Ok(())
}

async fn a_snapshot_cannot_change_anything(f: Fixture) -> Outcome {
    let mut snapshot = f.store.snapshot().await?;
    assert!(snapshot.db().account_insert("alice", NOW).await.is_err(), "a snapshot is read-only");
    drop(snapshot);
    assert_eq!(f.store.read().await?.db().accounts().await?, Vec::new());
    Ok(())
}

async fn the_schema_describes_its_tables_keys_checks_and_indexes(f: Fixture) -> Outcome {
    let schema = f.store.schema().await?;
    let names: Vec<&str> = schema.tables.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "accounts",
            "api_keys",
            "counters",
            "entity_grants",
            "events",
            "firewalls",
            "global_grants",
            "group_members",
            "hosts",
            "instances",
            "leases",
            "meta",
            "migration_failures",
            "migrations",
            "operations",
            "operator_tokens",
            "placement_groups",
            "regions",
            "repair_notes",
            "tokens",
            "users",
        ],
        "every table of the migrations, and not the migrator's own"
    );
    let hosts = &schema.tables["hosts"];
    assert_eq!(hosts.primary_key, ["id"]);
    assert_eq!(hosts.checks.len(), 4, "{:?}", hosts.checks);
    assert!(hosts.checks.contains(&vec!["0".to_string(), "used_vcpus".to_string(), "vcpus".to_string()]));
    assert_eq!(
        hosts.indexes.get("hosts_region"),
        Some(&store::Index { columns: vec!["region_id".into()], unique: false, partial: false })
    );
    assert!(hosts.unique.contains(&vec!["name".to_string()]));
    let labels = hosts.columns.iter().find(|c| c.name == "labels").expect("hosts.labels");
    assert_eq!(
        labels,
        &store::Column { name: "labels".into(), kind: "text".into(), not_null: true, default: Some("'{}'".into()) }
    );
    let members = &schema.tables["group_members"];
    assert!(members.unique.contains(&vec!["group_id".to_string(), "instance_id".to_string()]));
    assert!(members.foreign_keys.contains(&store::ForeignKey {
        columns: vec!["instance_id".into()],
        table: "instances".into(),
        references: vec!["id".into()],
        on_delete: "no action".into(),
    }));
    assert_eq!(schema.tables["entity_grants"].primary_key, ["user_id", "entity_type", "entity_id"]);
    Ok(())
}

async fn reopening_the_store_keeps_its_data(mut f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    db.meta_set("fleet", "demo").await?;
    let instance = db.instance_insert(&new_instance(w.alice, "web-1", "us-east", w.east[0]), NOW).await?;
    assert!(db.host_reserve(w.east[0], SMALL).await?);
    tx.commit().await?;

    f.reopen().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.meta_get("fleet").await?, Some("demo".to_string()));
    assert_eq!(db.tenant(w.alice).instance_get(instance.id).await?, Some(instance));
    assert_eq!(used(&db.host_get(w.east[0]).await?.expect("the host survives")), SMALL);
    assert_eq!(db.regions().await?.into_iter().map(|row| row.id).collect::<Vec<_>>(), ["us-east", "us-west"]);
    Ok(())
}

async fn schema_migrations_run_idempotently_on_reopen(mut f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let account = tx.db().account_insert("alice", NOW).await?;
    tx.commit().await?;

    // Each reopen runs the migrations again: they must find nothing to do, not fail on the
    // tables that exist, and not touch the data.
    f.reopen().await?;
    f.reopen().await?;
    f.store.ping().await?;

    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    assert_eq!(db.account_get(account.id).await?, Some(account));
    let second = db.account_insert("bob", NOW).await?;
    tx.commit().await?;
    assert_eq!(f.store.read().await?.db().account_get(second.id).await?, Some(second));
    Ok(())
}

// Meta.

async fn meta_keeps_the_last_value_set_for_each_key(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    assert_eq!(db.meta_get("fleet").await?, None);
    db.meta_set("fleet", "demo").await?;
    db.meta_set("other", "untouched").await?;
    assert_eq!(db.meta_get("fleet").await?, Some("demo".to_string()));
    db.meta_set("fleet", "production").await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.meta_get("fleet").await?, Some("production".to_string()));
    assert_eq!(db.meta_get("other").await?, Some("untouched".to_string()));
    assert_eq!(db.meta_get("missing").await?, None);
    Ok(())
}

// Accounts, users and tokens.

async fn accounts_are_found_by_id_and_names_are_unique(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let alice = db.account_insert("alice", NOW).await?;
    let bob = db.account_insert("bob", LATER).await?;
    assert_ne!(alice.id, bob.id);
    assert_eq!(alice, AccountRow { id: alice.id, name: "alice".to_string(), created_at: NOW });
    assert_eq!(db.account_get(bob.id).await?, Some(bob.clone()));
    assert_eq!(db.account_get(bob.id + 1000).await?, None);
    let duplicate = db.account_insert("alice", LATER).await;
    assert!(is_unique_violation(&duplicate), "{duplicate:?}");
    Ok(())
}

async fn users_are_found_only_within_their_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let admin = db.tenant(w.alice).user_insert("alice-admin", "admin@alice.example", false, NOW).await?;
    let restricted = db.tenant(w.alice).user_insert("alice-ops", "ops@alice.example", true, LATER).await?;
    assert_eq!(admin.restricted, 0);
    assert_eq!(restricted.restricted, 1);
    assert_eq!(
        (restricted.account_id, restricted.username.as_str(), restricted.email.as_str(), restricted.created_at),
        (w.alice, "alice-ops", "ops@alice.example", LATER)
    );
    assert_eq!(db.tenant(w.alice).user_get(restricted.id).await?, Some(restricted.clone()));
    assert_eq!(db.tenant(w.bob).user_get(restricted.id).await?, None, "another account's user is not found");
    assert_eq!(db.tenant(w.alice).user_get(restricted.id + 1000).await?, None);
    Ok(())
}

async fn tokens_are_found_by_their_secret_hash_alone(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let user = db.tenant(w.alice).user_insert("alice-admin", "admin@alice.example", false, NOW).await?;
    let lasting = db.tenant(w.alice).token_insert(user.id, "ci", "hash-ci", "*", NOW, None).await?;
    // The store keeps an expired token and finds it: judging expiry is the caller's job.
    let expired =
        db.tenant(w.alice).token_insert(user.id, "old", "hash-old", "linodes:read_only", NOW, Some(NOW - 1)).await?;
    assert_eq!(
        (lasting.account_id, lasting.user_id, lasting.label.as_str(), lasting.scopes.as_str(), lasting.created_at),
        (w.alice, user.id, "ci", "*", NOW)
    );
    assert_eq!(lasting.expires_at, None);
    assert_eq!(expired.expires_at, Some(NOW - 1));
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    // Each token with its user, in one read.
    assert_eq!(db.system().token_with_user("hash-ci").await?, Some((lasting, user.clone())));
    assert_eq!(db.system().token_with_user("hash-old").await?, Some((expired, user)));
    assert_eq!(db.system().token_with_user("ci").await?, None, "a label is not a secret");
    assert_eq!(db.system().token_with_user("hash").await?, None, "a prefix is not a secret");
    assert_eq!(db.system().token_with_user("").await?, None);
    Ok(())
}

async fn two_tokens_cannot_share_a_secret_hash(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let alice = db.tenant(w.alice).user_insert("alice-admin", "admin@alice.example", false, NOW).await?;
    let bob = db.tenant(w.bob).user_insert("bob-admin", "admin@bob.example", false, NOW).await?;
    db.tenant(w.alice).token_insert(alice.id, "ci", "hash-same", "*", NOW, None).await?;
    let duplicate = db.tenant(w.bob).token_insert(bob.id, "ci", "hash-same", "*", NOW, None).await;
    assert!(is_unique_violation(&duplicate), "{duplicate:?}");
    Ok(())
}

async fn accounts_are_listed_in_id_order_and_found_by_their_exact_name(f: Fixture) -> Outcome {
    assert!(f.store.read().await?.db().accounts().await?.is_empty(), "an empty store has no account");
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    // Names that sort against the ids, so that no listing can get them right by accident.
    let zed = db.account_insert("zed", NOW).await?;
    let alice = db.account_insert("alice", LATER).await?;
    let mid = db.account_insert("mid", NOW).await?;
    assert_eq!(db.accounts().await?, [zed.clone(), alice.clone(), mid.clone()], "a change lists its own accounts");
    tx.commit().await?;

    // An account that is never committed is neither listed nor found.
    let mut tx = f.store.write().await?;
    tx.db().account_insert("ghost", LATER).await?;
    drop(tx);

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.accounts().await?, [zed.clone(), alice.clone(), mid]);
    assert_eq!(db.account_by_name("alice").await?, Some(alice));
    assert_eq!(db.account_by_name("zed").await?, Some(zed));
    for wrong in ["ghost", "ali", "alice ", "ALICE", ""] {
        assert_eq!(db.account_by_name(wrong).await?, None, "{wrong:?} is not the name of a committed account");
    }
    Ok(())
}

async fn users_of_account_lists_only_that_account_in_id_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    // Usernames that sort against the ids, so that no listing can get them right by accident.
    let ops = db.tenant(w.alice).user_insert("zz-ops", "ops@alice.example", true, NOW).await?;
    let theirs = db.tenant(w.bob).user_insert("bob-admin", "admin@bob.example", false, NOW).await?;
    let admin = db.tenant(w.alice).user_insert("aa-admin", "admin@alice.example", false, LATER).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.alice).users_of_account().await?, [ops, admin]);
    assert_eq!(db.tenant(w.bob).users_of_account().await?, [theirs]);
    assert!(db.tenant(w.bob + 1000).users_of_account().await?.is_empty());
    Ok(())
}

async fn users_are_found_by_their_exact_username_in_any_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let ops = db.tenant(w.alice).user_insert("alice-ops", "ops@alice.example", true, NOW).await?;
    let theirs = db.tenant(w.bob).user_insert("bob-admin", "admin@bob.example", false, LATER).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.system().user_by_username("alice-ops").await?, Some(ops));
    assert_eq!(db.system().user_by_username("bob-admin").await?, Some(theirs));
    for wrong in ["alice", "alice-ops ", "ALICE-OPS", "ops@alice.example", ""] {
        assert_eq!(db.system().user_by_username(wrong).await?, None, "{wrong:?} is not a username");
    }
    Ok(())
}

async fn two_users_cannot_share_a_username_even_across_accounts(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let first = db.tenant(w.alice).user_insert("admin", "admin@alice.example", false, NOW).await?;
    tx.commit().await?;

    // The refusal gets a transaction of its own; what it left is checked from a fresh one.
    let mut tx = f.store.write().await?;
    let duplicate = tx.db().tenant(w.bob).user_insert("admin", "admin@bob.example", false, LATER).await;
    assert!(is_unique_violation(&duplicate), "{duplicate:?}");
    drop(tx);

    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().system().user_by_username("admin").await?, Some(first), "the first user keeps its username");
    assert!(conn.db().tenant(w.bob).users_of_account().await?.is_empty());
    Ok(())
}

async fn tokens_of_user_lists_only_that_users_tokens_in_its_account_in_id_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let admin = db.tenant(w.alice).user_insert("alice-admin", "admin@alice.example", false, NOW).await?.id;
    let ops = db.tenant(w.alice).user_insert("alice-ops", "ops@alice.example", true, NOW).await?.id;
    let bob = db.tenant(w.bob).user_insert("bob-admin", "admin@bob.example", false, NOW).await?.id;
    // Labels that sort against the ids, and tokens of different users interleaved.
    let ci = db.tenant(w.alice).token_insert(admin, "zz-ci", "hash-ci", "*", NOW, None).await?;
    let ops_token = db.tenant(w.alice).token_insert(ops, "ops", "hash-ops", "linodes:read_only", NOW, None).await?;
    let deploy =
        db.tenant(w.alice).token_insert(admin, "aa-deploy", "hash-deploy", "*", LATER, Some(LATER + 1)).await?;
    let theirs = db.tenant(w.bob).token_insert(bob, "ci", "hash-bob", "*", NOW, None).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.alice).tokens_of_user(admin).await?, [ci, deploy]);
    assert_eq!(db.tenant(w.alice).tokens_of_user(ops).await?, [ops_token]);
    assert_eq!(db.tenant(w.bob).tokens_of_user(bob).await?, [theirs]);
    assert!(db.tenant(w.bob).tokens_of_user(admin).await?.is_empty(), "another account does not see a user's tokens");
    assert!(db.tenant(w.alice).tokens_of_user(bob).await?.is_empty(), "another account's user is not listed");
    assert!(db.tenant(w.alice).tokens_of_user(bob + 1000).await?.is_empty());
    Ok(())
}

async fn token_revoke_revokes_a_token_once_and_only_within_its_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let admin = db.tenant(w.alice).user_insert("alice-admin", "admin@alice.example", false, NOW).await?.id;
    let ci = db.tenant(w.alice).token_insert(admin, "ci", "hash-ci", "*", NOW, None).await?;
    let other = db.tenant(w.alice).token_insert(admin, "other", "hash-other", "*", NOW, Some(LATER)).await?;
    assert_eq!((ci.revoked_at, other.revoked_at), (None, None), "a new token is not revoked");
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    assert!(!db.tenant(w.bob).token_revoke(ci.id, LATER).await?, "another account cannot revoke it");
    assert_eq!(
        db.system().token_with_user("hash-ci").await?.map(|(token, _)| token),
        Some(ci.clone()),
        "another account leaves it untouched"
    );
    assert!(!db.tenant(w.alice).token_revoke(other.id + 1000, LATER).await?, "an unknown token is not revoked");
    assert!(db.tenant(w.alice).token_revoke(ci.id, LATER).await?);
    tx.commit().await?;

    let revoked = TokenRow { revoked_at: Some(LATER), ..ci };
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(
        db.system().token_with_user("hash-ci").await?.map(|(token, _)| token),
        Some(revoked.clone()),
        "a revoked token is still found"
    );
    assert_eq!(
        db.system().token_with_user("hash-other").await?.map(|(token, _)| token),
        Some(other.clone()),
        "the other token is untouched"
    );
    assert_eq!(db.tenant(w.alice).tokens_of_user(admin).await?, [revoked.clone(), other.clone()]);
    drop(conn);

    let mut tx = f.store.write().await?;
    assert!(!tx.db().tenant(w.alice).token_revoke(revoked.id, LATER + 1).await?, "a token is revoked only once");
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    assert_eq!(
        conn.db().system().token_with_user("hash-ci").await?.map(|(token, _)| token),
        Some(revoked),
        "the first revocation's time stands"
    );
    Ok(())
}

// Grants of restricted users.

fn grant(entity_type: &str, entity_id: i64, permission: &str) -> EntityGrantRow {
    EntityGrantRow { entity_type: entity_type.to_string(), entity_id, permission: permission.to_string() }
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

/// Two restricted users of alice's and one of bob's.
struct Restricted {
    ops: i64,
    dev: i64,
    theirs: i64,
}

async fn restricted(db: &mut Db<'_>, w: &World) -> Result<Restricted, StoreError> {
    Ok(Restricted {
        ops: db.tenant(w.alice).user_insert("alice-ops", "ops@alice.example", true, NOW).await?.id,
        dev: db.tenant(w.alice).user_insert("alice-dev", "dev@alice.example", true, NOW).await?.id,
        theirs: db.tenant(w.bob).user_insert("bob-ops", "ops@bob.example", true, NOW).await?.id,
    })
}

async fn global_grants_of_user_lists_that_users_grants_by_name(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let u = restricted(&mut db, &w).await?;
    assert!(db.system().global_grants_of_user(u.ops).await?.is_empty(), "a new user has no grant");
    db.tenant(w.alice).grants_replace(u.ops, &names(&["add_linodes", "account_access", "add_firewalls"]), &[]).await?;
    db.tenant(w.alice).grants_replace(u.dev, &names(&["add_domains"]), &[]).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.system().global_grants_of_user(u.ops).await?, ["account_access", "add_firewalls", "add_linodes"]);
    assert_eq!(db.system().global_grants_of_user(u.dev).await?, ["add_domains"]);
    assert!(db.system().global_grants_of_user(u.theirs).await?.is_empty());
    assert!(db.system().entity_grants_of_user(u.ops).await?.is_empty(), "global grants are not entity grants");
    Ok(())
}

async fn entity_grants_of_user_lists_that_users_grants_by_type_then_id(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let u = restricted(&mut db, &w).await?;
    assert!(db.system().entity_grants_of_user(u.ops).await?.is_empty(), "a new user has no grant");
    // Out of order, with ids that sort differently as numbers and as text.
    for row in [
        grant("placement_group", 3, "read_only"),
        grant("linode", 10, "read_write"),
        grant("firewall", 7, "read_only"),
        grant("linode", 9, "read_only"),
        grant("linode", 100, "read_write"),
    ] {
        db.tenant(w.alice).entity_grant_set(u.ops, &row).await?;
    }
    db.tenant(w.alice).entity_grant_set(u.dev, &grant("linode", 9, "read_write")).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(
        db.system().entity_grants_of_user(u.ops).await?,
        [
            grant("firewall", 7, "read_only"),
            grant("linode", 9, "read_only"),
            grant("linode", 10, "read_write"),
            grant("linode", 100, "read_write"),
            grant("placement_group", 3, "read_only"),
        ]
    );
    assert_eq!(db.system().entity_grants_of_user(u.dev).await?, [grant("linode", 9, "read_write")]);
    assert!(db.system().entity_grants_of_user(u.theirs).await?.is_empty());
    assert!(db.system().global_grants_of_user(u.ops).await?.is_empty(), "entity grants are not global grants");
    Ok(())
}

async fn grants_replace_replaces_both_kinds_for_that_user_only(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let u = restricted(&mut db, &w).await?;
    let ops_before = [grant("firewall", 2, "read_write"), grant("linode", 1, "read_only")];
    db.tenant(w.alice).grants_replace(u.ops, &names(&["add_linodes", "add_firewalls"]), &ops_before).await?;
    db.tenant(w.alice).grants_replace(u.dev, &names(&["add_linodes"]), &[grant("linode", 1, "read_write")]).await?;
    db.tenant(w.bob).grants_replace(u.theirs, &names(&["add_linodes"]), &[grant("linode", 50, "read_write")]).await?;
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    let ops_after = [grant("placement_group", 4, "read_only"), grant("linode", 1, "read_write")];
    tx.db().tenant(w.alice).grants_replace(u.ops, &names(&["add_domains"]), &ops_after).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.system().global_grants_of_user(u.ops).await?, ["add_domains"]);
    assert_eq!(
        db.system().entity_grants_of_user(u.ops).await?,
        [grant("linode", 1, "read_write"), grant("placement_group", 4, "read_only")]
    );
    assert_eq!(db.system().global_grants_of_user(u.dev).await?, ["add_linodes"], "another user keeps its grants");
    assert_eq!(db.system().entity_grants_of_user(u.dev).await?, [grant("linode", 1, "read_write")]);
    assert_eq!(db.system().global_grants_of_user(u.theirs).await?, ["add_linodes"], "another account keeps its grants");
    assert_eq!(db.system().entity_grants_of_user(u.theirs).await?, [grant("linode", 50, "read_write")]);
    drop(conn);

    // Replacing from another account clears nothing of the user's own.
    let mut tx = f.store.write().await?;
    tx.db().tenant(w.bob).grants_replace(u.ops, &[], &[]).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    assert_eq!(
        conn.db().system().global_grants_of_user(u.ops).await?,
        ["add_domains"],
        "another account cannot clear them"
    );
    assert_eq!(conn.db().system().entity_grants_of_user(u.ops).await?.len(), 2, "another account cannot clear them");
    drop(conn);

    // Replacing with nothing clears both kinds.
    let mut tx = f.store.write().await?;
    tx.db().tenant(w.alice).grants_replace(u.ops, &[], &[]).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert!(db.system().global_grants_of_user(u.ops).await?.is_empty());
    assert!(db.system().entity_grants_of_user(u.ops).await?.is_empty());
    assert_eq!(db.system().global_grants_of_user(u.dev).await?, ["add_linodes"]);
    assert_eq!(db.system().entity_grants_of_user(u.dev).await?, [grant("linode", 1, "read_write")]);
    Ok(())
}

async fn a_refused_grants_replace_leaves_the_old_grants_in_place(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let u = restricted(&mut db, &w).await?;
    db.tenant(w.alice).grants_replace(u.ops, &names(&["add_linodes"]), &[grant("linode", 1, "read_only")]).await?;
    tx.commit().await?;

    // The same global grant twice is refused after the old grants were deleted; the
    // refusal gets a transaction of its own, and what it left is checked from a fresh one.
    let mut tx = f.store.write().await?;
    let twice = names(&["add_domains", "add_domains"]);
    let result = tx.db().tenant(w.alice).grants_replace(u.ops, &twice, &[grant("firewall", 2, "read_write")]).await;
    assert!(is_unique_violation(&result), "{result:?}");
    drop(tx);

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.system().global_grants_of_user(u.ops).await?, ["add_linodes"]);
    assert_eq!(db.system().entity_grants_of_user(u.ops).await?, [grant("linode", 1, "read_only")]);
    Ok(())
}

async fn entity_grant_set_inserts_a_grant_or_updates_its_permission(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let u = restricted(&mut db, &w).await?;
    db.tenant(w.alice).entity_grant_set(u.ops, &grant("linode", 1, "read_only")).await?;
    db.tenant(w.alice).entity_grant_set(u.ops, &grant("firewall", 1, "read_only")).await?;
    db.tenant(w.alice).entity_grant_set(u.dev, &grant("linode", 1, "read_only")).await?;
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    tx.db().tenant(w.alice).entity_grant_set(u.ops, &grant("linode", 1, "read_write")).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(
        db.system().entity_grants_of_user(u.ops).await?,
        [grant("firewall", 1, "read_only"), grant("linode", 1, "read_write")],
        "the permission is replaced, not added beside the old one"
    );
    assert_eq!(
        db.system().entity_grants_of_user(u.dev).await?,
        [grant("linode", 1, "read_only")],
        "another user's stands"
    );
    drop(conn);

    // And back again.
    let mut tx = f.store.write().await?;
    tx.db().tenant(w.alice).entity_grant_set(u.ops, &grant("linode", 1, "read_only")).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    assert_eq!(
        conn.db().system().entity_grants_of_user(u.ops).await?,
        [grant("firewall", 1, "read_only"), grant("linode", 1, "read_only")]
    );
    Ok(())
}

async fn entity_grants_delete_forgets_one_entity_for_every_user_of_its_account_only(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let u = restricted(&mut db, &w).await?;
    let ops = [grant("firewall", 5, "read_only"), grant("linode", 5, "read_write"), grant("linode", 6, "read_only")];
    db.tenant(w.alice).grants_replace(u.ops, &names(&["add_linodes"]), &ops).await?;
    db.tenant(w.alice).grants_replace(u.dev, &[], &[grant("linode", 5, "read_only")]).await?;
    db.tenant(w.bob)
        .grants_replace(u.theirs, &[], &[grant("linode", 5, "read_write"), grant("linode", 6, "read_only")])
        .await?;
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    db.tenant(w.alice).entity_grants_delete("linode", 5).await?;
    db.tenant(w.bob).entity_grants_delete("linode", 6).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(
        db.system().entity_grants_of_user(u.ops).await?,
        [grant("firewall", 5, "read_only"), grant("linode", 6, "read_only")],
        "only that entity's grant goes; the same id of another type and another id of that type stay"
    );
    assert!(db.system().entity_grants_of_user(u.dev).await?.is_empty(), "every user of the account loses it");
    assert_eq!(
        db.system().entity_grants_of_user(u.theirs).await?,
        [grant("linode", 5, "read_write")],
        "another account's grant on the same id stays"
    );
    assert_eq!(db.system().global_grants_of_user(u.ops).await?, ["add_linodes"], "global grants are untouched");
    Ok(())
}

// Events.

/// An event with every field set, the optional ones included.
fn new_event(account_id: i64, action: &str) -> NewEvent {
    NewEvent {
        account_id,
        username: Some(format!("admin-of-{account_id}")),
        action: action.to_string(),
        status: "finished".to_string(),
        entity_type: "linode".to_string(),
        entity_id: 42,
        entity_uuid: "uuid-instance-42".to_string(),
        entity_label: "web-1".to_string(),
        secondary_type: Some("placement_group".to_string()),
        secondary_id: Some(7),
        secondary_label: Some("spread".to_string()),
        message: format!("{action} done"),
    }
}

/// The row an event becomes once the store has numbered it.
fn event_row(id: i64, event: &NewEvent, created_at: i64) -> EventRow {
    let event = event.clone();
    EventRow {
        id,
        account_id: event.account_id,
        username: event.username,
        action: event.action,
        status: event.status,
        entity_type: event.entity_type,
        entity_id: event.entity_id,
        entity_uuid: event.entity_uuid,
        entity_label: event.entity_label,
        secondary_type: event.secondary_type,
        secondary_id: event.secondary_id,
        secondary_label: event.secondary_label,
        message: event.message,
        created_at,
    }
}

async fn events_keep_every_column_with_or_without_the_optional_ones(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let full = new_event(w.alice, "linode_create");
    // A system event: no user and no secondary entity.
    let bare = NewEvent {
        username: None,
        secondary_type: None,
        secondary_id: None,
        secondary_label: None,
        status: "failed".to_string(),
        message: String::new(),
        ..new_event(w.alice, "linode_migrate")
    };
    // Empty and zero values are values, not NULL.
    let empty = NewEvent {
        username: Some(String::new()),
        entity_id: 0,
        secondary_type: Some(String::new()),
        secondary_id: Some(0),
        secondary_label: Some(String::new()),
        ..new_event(w.alice, "linode_delete")
    };
    let full_id = db.event_insert(&full, NOW).await?;
    let bare_id = db.event_insert(&bare, LATER).await?;
    let empty_id = db.event_insert(&empty, LATER + 1).await?;
    tx.commit().await?;

    let listed = f.store.read().await?.db().tenant(w.alice).events_of_account().await?;
    assert_eq!(
        listed,
        [event_row(empty_id, &empty, LATER + 1), event_row(bare_id, &bare, LATER), event_row(full_id, &full, NOW)]
    );
    Ok(())
}

async fn event_pages_hold_the_kinds_asked_for_newest_first_and_count_them(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let about = |kind: &str| NewEvent { entity_type: kind.to_string(), ..new_event(w.alice, "instance_create") };
    let a = db.event_insert(&about("instance"), NOW).await?;
    let hidden = db.event_insert(&about("global_group"), NOW).await?;
    let b = db.event_insert(&about("group"), NOW).await?;
    db.event_insert(&NewEvent { entity_type: "instance".to_string(), ..new_event(w.bob, "instance_create") }, NOW)
        .await?;
    let c = db.event_insert(&about("instance"), LATER).await?;
    let kinds = ["instance", "group"];
    assert_eq!(db.tenant(w.alice).event_count(&kinds).await?, 3);
    assert_eq!(ids(&db.tenant(w.alice).events_page(&kinds, 0, 2).await?, |e| e.id), [c, b]);
    assert_eq!(ids(&db.tenant(w.alice).events_page(&kinds, 2, 2).await?, |e| e.id), [a]);
    assert!(db.tenant(w.alice).events_page(&[], 0, 2).await?.is_empty());
    assert_eq!(db.tenant(w.alice).event_get(hidden).await?.map(|e| e.entity_type), Some("global_group".to_string()));
    assert_eq!(db.tenant(w.bob).event_get(a).await?, None, "another account's event is not found");
    Ok(())
}

async fn event_ids_increase_and_events_of_account_lists_only_that_account_newest_first(f: Fixture) -> Outcome {
    assert!(f.store.read().await?.db().tenant(1).events_of_account().await?.is_empty(), "an empty store has no event");
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let first = db.event_insert(&new_event(w.alice, "linode_create"), NOW).await?;
    let theirs = db.event_insert(&new_event(w.bob, "linode_create"), NOW).await?;
    let second = db.event_insert(&new_event(w.alice, "linode_update"), LATER).await?;
    let third = db.event_insert(&new_event(w.alice, "linode_delete"), LATER).await?;
    assert!(first < theirs && theirs < second && second < third, "{first} {theirs} {second} {third}");
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    let fourth = tx.db().event_insert(&new_event(w.alice, "linode_boot"), LATER).await?;
    tx.commit().await?;
    assert!(third < fourth, "ids keep increasing across changes: {third} {fourth}");

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let alices = db.tenant(w.alice).events_of_account().await?;
    assert_eq!(ids(&alices, |e| e.id), [fourth, third, second, first]);
    assert_eq!(
        alices.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["linode_boot", "linode_delete", "linode_update", "linode_create"]
    );
    assert!(alices.iter().all(|e| e.account_id == w.alice));
    assert_eq!(ids(&db.tenant(w.bob).events_of_account().await?, |e| e.id), [theirs]);
    assert!(db.tenant(w.bob + 1000).events_of_account().await?.is_empty());
    Ok(())
}

// Regions and hosts.

async fn regions_are_listed_in_id_order_and_found_by_id(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let unlimited = RegionRow { max_groups_per_account: None, ..region("ap-south") };
    db.region_insert(&region("us-west")).await?;
    db.region_insert(&unlimited).await?;
    db.region_insert(&region("us-east")).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let listed: Vec<String> = db.regions().await?.into_iter().map(|row| row.id).collect();
    assert_eq!(listed, ["ap-south", "us-east", "us-west"]);
    assert_eq!(db.region_get("ap-south").await?, Some(unlimited));
    assert_eq!(db.region_get("us-west").await?, Some(region("us-west")));
    assert_eq!(db.region_get("eu-central").await?, None);
    Ok(())
}

async fn hosts_are_listed_by_region_in_id_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    db.region_insert(&region("eu-central")).await?;
    let east_3 = db.host_insert(&new_host("east-3", "us-east", "draining", BIG), NOW).await?;
    // An update may move a row in a backend's storage: the listing must still be in id order.
    assert!(db.host_reserve(w.east[0], SMALL).await?);

    assert_eq!(ids(&db.hosts_in_region("us-east").await?, |h| h.id), [w.east[0], w.east[1], east_3.id]);
    assert_eq!(ids(&db.hosts_in_region("us-west").await?, |h| h.id), [w.west]);
    assert!(db.hosts_in_region("eu-central").await?.is_empty());
    assert!(db.hosts_in_region("nowhere").await?.is_empty());
    Ok(())
}

async fn a_host_is_stored_as_given_with_nothing_in_use(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    db.region_insert(&region("us-east")).await?;
    let size = Size { vcpus: 8, memory_mib: 16_384, disk_mib: 320_000, gpus: 1 };
    let host = db.host_insert(&new_host("east-1", "us-east", "maintenance", size), NOW).await?;
    assert_eq!(
        host,
        HostRow {
            id: host.id,
            uuid: "uuid-host-east-1".to_string(),
            name: "east-1".to_string(),
            region_id: "us-east".to_string(),
            rack: "rack-1".to_string(),
            state: "maintenance".to_string(),
            vcpus: 8,
            memory_mib: 16_384,
            disk_mib: 320_000,
            gpus: 1,
            used_vcpus: 0,
            used_memory_mib: 0,
            used_disk_mib: 0,
            used_gpus: 0,
            created_at: NOW,
            labels: "{}".to_string(),
            updated_at: NOW,
        }
    );
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().host_get(host.id).await?, Some(host.clone()));
    assert_eq!(conn.db().host_get(host.id + 1000).await?, None);
    Ok(())
}

async fn hosts_by_id_returns_the_named_hosts_in_id_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let found = db.hosts_by_id(&[w.west, w.east[0], w.west + 1000]).await?;
    assert_eq!(ids(&found, |h| h.id), [w.east[0], w.west]);
    assert_eq!(found[1].region_id, "us-west");
    assert_eq!(ids(&db.hosts_by_id(&[w.east[1]]).await?, |h| h.id), [w.east[1]]);
    assert!(db.hosts_by_id(&[]).await?.is_empty());
    Ok(())
}

async fn long_id_lists_find_every_row_once_in_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let mut made = vec![w.east[0], w.east[1], w.west];
    for n in 0..1_200 {
        made.push(db.host_insert(&new_host(&format!("many-{n}"), "us-east", "active", BIG), NOW).await?.id);
    }
    made.sort_unstable();
    // More ids than one statement binds, out of order, with repeats and ids of no host.
    let mut asked: Vec<i64> = made.iter().rev().copied().collect();
    asked.extend_from_slice(&made[..700]);
    asked.push(made[made.len() - 1] + 1_000);
    let found = db.hosts_by_id(&asked).await?;
    assert_eq!(ids(&found, |h| h.id), made, "every host once, in id order");
    Ok(())
}

async fn host_reserve_takes_free_capacity_and_counts_it_exactly(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let first = Size { vcpus: 3, memory_mib: 4096, disk_mib: 81_920, gpus: 1 };
    assert!(db.host_reserve(w.east[0], first).await?);
    assert!(db.host_reserve(w.east[0], SMALL).await?);
    let host = db.host_get(w.east[0]).await?.expect("the host exists");
    assert_eq!(used(&host), add(first, SMALL));
    assert_eq!((host.vcpus, host.memory_mib, host.disk_mib, host.gpus), (32, 131_072, 1_048_576, 4));
    assert_eq!(used(&db.host_get(w.east[1]).await?.expect("the host exists")), Size::default());

    // The last of the host, to the unit, fits; one more unit does not.
    let rest = Size {
        vcpus: BIG.vcpus - host.used_vcpus,
        memory_mib: BIG.memory_mib - host.used_memory_mib,
        disk_mib: BIG.disk_mib - host.used_disk_mib,
        gpus: BIG.gpus - host.used_gpus,
    };
    assert!(db.host_reserve(w.east[0], rest).await?);
    assert_eq!(used(&db.host_get(w.east[0]).await?.expect("the host exists")), BIG);
    assert!(!db.host_reserve(w.east[0], Size { vcpus: 1, ..Size::default() }).await?);
    assert!(!db.host_reserve(w.east[0] + 1000, SMALL).await?, "an unknown host has no room");
    tx.commit().await?;

    assert_eq!(used(&committed_host(&f.store, w.east[0]).await?), BIG);
    Ok(())
}

async fn host_reserve_refuses_a_size_beyond_capacity_in_each_dimension(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let half = Size { vcpus: 16, memory_mib: 65_536, disk_mib: 524_288, gpus: 2 };
    assert!(db.host_reserve(w.east[0], half).await?);
    let free = half;
    let too_big = [
        ("vcpus", Size { vcpus: free.vcpus + 1, ..free }),
        ("memory", Size { memory_mib: free.memory_mib + 1, ..free }),
        ("disk", Size { disk_mib: free.disk_mib + 1, ..free }),
        ("gpus", Size { gpus: free.gpus + 1, ..free }),
    ];
    for (dimension, size) in too_big {
        assert!(!db.host_reserve(w.east[0], size).await?, "{dimension} beyond capacity must be refused");
        assert_eq!(used(&db.host_get(w.east[0]).await?.expect("the host exists")), half, "{dimension}");
    }
    // What is free in every dimension still fits.
    assert!(db.host_reserve(w.east[0], free).await?);
    assert_eq!(used(&db.host_get(w.east[0]).await?.expect("the host exists")), BIG);
    Ok(())
}

async fn host_reserve_refuses_a_host_that_is_not_active(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    db.region_insert(&region("us-east")).await?;
    for state in ["draining", "maintenance", "failed"] {
        let host = db.host_insert(&new_host(state, "us-east", state, BIG), NOW).await?;
        assert!(!db.host_reserve(host.id, SMALL).await?, "a {state} host must take nothing");
        assert_eq!(used(&db.host_get(host.id).await?.expect("the host exists")), Size::default(), "{state}");
    }
    Ok(())
}

async fn host_release_gives_back_exactly_what_it_is_told(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let three = Size { vcpus: 3, memory_mib: 3072, disk_mib: 76_800, gpus: 0 };
    let gpu = Size { vcpus: 4, memory_mib: 8192, disk_mib: 10_240, gpus: 2 };
    assert!(db.host_reserve(w.east[0], three).await?);
    assert!(db.host_reserve(w.east[0], gpu).await?);
    db.host_release(w.east[0], SMALL).await?;
    let expected = Size { vcpus: 6, memory_mib: 10_240, disk_mib: 61_440, gpus: 2 };
    assert_eq!(used(&db.host_get(w.east[0]).await?.expect("the host exists")), expected);
    db.host_release(w.east[0], expected).await?;
    assert_eq!(used(&db.host_get(w.east[0]).await?.expect("the host exists")), Size::default());
    tx.commit().await?;

    // Whatever was released can be taken again, up to the whole host.
    let mut tx = f.store.write().await?;
    assert!(tx.db().host_reserve(w.east[0], BIG).await?);
    tx.commit().await?;
    assert_eq!(used(&committed_host(&f.store, w.east[0]).await?), BIG);
    Ok(())
}

async fn host_labels_are_stored_as_given_and_read_back_by_every_lookup(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    // Stored as text, byte for byte: escapes and non-ASCII included.
    let labels = r#"{"power":"feed-b","room":"salle-été","quote":"say \"hi\""}"#;
    let new = NewHost { labels: labels.to_string(), ..new_host("east-3", "us-east", "active", BIG) };
    let row = db.host_insert(&new, NOW).await?;
    assert_eq!(row.labels, labels);
    assert_eq!((row.created_at, row.updated_at), (NOW, NOW), "a new host was last changed when it was made");
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.host_get(row.id).await?, Some(row.clone()));
    assert_eq!(db.host_by_name("east-3").await?, Some(row.clone()));
    assert_eq!(db.hosts_by_id(&[row.id]).await?, std::slice::from_ref(&row));
    assert_eq!(db.hosts_in_region("us-east").await?.last(), Some(&row));
    assert_eq!(db.hosts_all().await?.last(), Some(&row));
    assert_eq!(db.host_get(w.east[0]).await?.map(|h| h.labels), Some("{}".to_string()), "others keep theirs");
    Ok(())
}

async fn hosts_all_lists_every_host_of_every_region_in_id_order(f: Fixture) -> Outcome {
    assert!(f.store.read().await?.db().hosts_all().await?.is_empty(), "an empty store has no host");
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    db.region_insert(&region("eu-central")).await?;
    // Names and regions that sort against the ids, hosts of every state, and changes that may
    // move a row in a backend's storage: the listing must still be in id order.
    let failed = db.host_insert(&new_host("a-failed", "eu-central", "failed", BIG), NOW).await?;
    let draining = db.host_insert(&new_host("east-3", "us-east", "draining", BIG), NOW).await?;
    assert!(db.host_reserve(w.east[1], SMALL).await?);
    db.host_set_state(w.west, "maintenance", LATER).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let all = db.hosts_all().await?;
    assert_eq!(ids(&all, |h| h.id), [w.east[0], w.east[1], w.west, failed.id, draining.id]);
    for host in &all {
        assert_eq!(db.host_get(host.id).await?.as_ref(), Some(host), "each row is the host as it stands");
    }
    assert_eq!(all[3], failed);
    assert_eq!(used(&all[1]), SMALL);
    assert_eq!((all[2].state.as_str(), all[2].updated_at), ("maintenance", LATER));
    Ok(())
}

async fn host_by_name_finds_a_host_by_its_exact_name_only(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let east_2 = db.host_get(w.east[1]).await?.expect("the host exists");
    assert_eq!(db.host_by_name("east-2").await?, Some(east_2));
    assert_eq!(db.host_by_name("west-1").await?.map(|h| h.id), Some(w.west), "in any region");
    let id = w.east[1].to_string();
    for wrong in ["east", "east-2 ", "EAST-2", "uuid-host-east-2", "rack-1", id.as_str(), ""] {
        assert_eq!(db.host_by_name(wrong).await?, None, "{wrong:?} is not the name of a host");
    }
    Ok(())
}

async fn two_hosts_cannot_share_a_name(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let w = world(&mut tx.db()).await?;
    tx.commit().await?;

    // The refusal gets a transaction of its own; what it left is checked from a fresh one.
    let mut tx = f.store.write().await?;
    let same_name = NewHost { uuid: "uuid-host-other".to_string(), ..new_host("east-1", "us-west", "active", BIG) };
    let duplicate = tx.db().host_insert(&same_name, LATER).await;
    assert!(is_unique_violation(&duplicate), "{duplicate:?}");
    drop(tx);

    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().host_by_name("east-1").await?.map(|h| h.id), Some(w.east[0]), "the first host keeps it");
    assert_eq!(ids(&conn.db().hosts_all().await?, |h| h.id), [w.east[0], w.east[1], w.west]);
    Ok(())
}

async fn host_set_state_changes_the_state_and_its_time_and_nothing_else(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let w = world(&mut tx.db()).await?;
    assert!(tx.db().host_reserve(w.east[0], SMALL).await?);
    tx.commit().await?;
    let before = committed_host(&f.store, w.east[0]).await?;
    let bystander = committed_host(&f.store, w.east[1]).await?;

    let mut tx = f.store.write().await?;
    tx.db().host_set_state(w.east[0], "draining", LATER).await?;
    tx.db().host_set_state(w.east[1] + 1000, "failed", LATER).await?;
    tx.commit().await?;
    let draining = HostRow { state: "draining".to_string(), updated_at: LATER, ..before.clone() };
    assert_eq!(committed_host(&f.store, w.east[0]).await?, draining);
    assert_eq!(committed_host(&f.store, w.east[1]).await?, bystander, "another host is untouched");

    // The new state is the one the reserve checks: a draining host takes nothing until it is
    // active again.
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    assert!(!db.host_reserve(w.east[0], SMALL).await?);
    db.host_set_state(w.east[0], "active", LATER + 1).await?;
    assert!(db.host_reserve(w.east[0], SMALL).await?);
    tx.commit().await?;
    let active =
        HostRow { updated_at: LATER + 1, used_vcpus: 2, used_memory_mib: 2048, used_disk_mib: 51_200, ..before };
    assert_eq!(committed_host(&f.store, w.east[0]).await?, active);
    Ok(())
}

async fn host_update_changes_rack_labels_and_capacity_but_not_what_is_in_use(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let w = world(&mut tx.db()).await?;
    assert!(tx.db().host_reserve(w.east[0], SMALL).await?);
    tx.commit().await?;
    let before = committed_host(&f.store, w.east[0]).await?;
    let bystander = committed_host(&f.store, w.east[1]).await?;

    let labels = r#"{"power":"feed-b","room":"salle-été"}"#;
    let smaller = Size { vcpus: 16, memory_mib: 65_536, disk_mib: 524_288, gpus: 1 };
    let mut tx = f.store.write().await?;
    tx.db().host_update(w.east[0], "rack-9", labels, smaller, LATER).await?;
    tx.db().host_update(w.west + 1000, "rack-0", "{}", BIG, LATER).await?;
    tx.commit().await?;
    let updated = HostRow {
        rack: "rack-9".to_string(),
        labels: labels.to_string(),
        vcpus: 16,
        memory_mib: 65_536,
        disk_mib: 524_288,
        gpus: 1,
        updated_at: LATER,
        ..before
    };
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.host_get(w.east[0]).await?, Some(updated.clone()));
    assert_eq!(db.host_by_name("east-1").await?, Some(updated));
    assert_eq!(db.host_get(w.east[1]).await?, Some(bystander), "another host is untouched");
    drop(conn);

    // The new capacity is the one the reserve checks: exactly what is left fits, no more.
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let rest = Size {
        vcpus: smaller.vcpus - SMALL.vcpus,
        memory_mib: smaller.memory_mib - SMALL.memory_mib,
        disk_mib: smaller.disk_mib - SMALL.disk_mib,
        gpus: smaller.gpus - SMALL.gpus,
    };
    assert!(!db.host_reserve(w.east[0], Size { vcpus: rest.vcpus + 1, ..rest }).await?);
    assert!(db.host_reserve(w.east[0], rest).await?);
    tx.commit().await?;
    assert_eq!(used(&committed_host(&f.store, w.east[0]).await?), smaller);

    // A host may grow.
    let mut tx = f.store.write().await?;
    tx.db().host_update(w.east[0], "rack-9", labels, BIG, LATER + 1).await?;
    assert!(tx.db().host_reserve(w.east[0], Size { vcpus: BIG.vcpus - smaller.vcpus, ..Size::default() }).await?);
    tx.commit().await?;
    let grown = committed_host(&f.store, w.east[0]).await?;
    assert_eq!((grown.vcpus, grown.used_vcpus, grown.updated_at), (BIG.vcpus, BIG.vcpus, LATER + 1));
    Ok(())
}

async fn the_schema_refuses_a_host_update_below_what_is_in_use(f: Fixture) -> Outcome {
    let in_use = Size { vcpus: 4, memory_mib: 8192, disk_mib: 102_400, gpus: 2 };
    let mut tx = f.store.write().await?;
    let w = world(&mut tx.db()).await?;
    assert!(tx.db().host_reserve(w.east[0], in_use).await?);
    tx.commit().await?;
    let before = committed_host(&f.store, w.east[0]).await?;

    let below = [
        ("vcpus", Size { vcpus: in_use.vcpus - 1, ..in_use }),
        ("memory", Size { memory_mib: in_use.memory_mib - 1, ..in_use }),
        ("disk", Size { disk_mib: in_use.disk_mib - 1, ..in_use }),
        ("gpus", Size { gpus: in_use.gpus - 1, ..in_use }),
    ];
    for (dimension, capacity) in below {
        let mut tx = f.store.write().await?;
        let result = tx.db().host_update(w.east[0], "rack-9", r#"{"a":"b"}"#, capacity, LATER).await;
        assert!(is_check_violation(&result), "{dimension} below what is in use must be refused: {result:?}");
        drop(tx);
        assert_eq!(committed_host(&f.store, w.east[0]).await?, before, "{dimension}: nothing changes, rack included");
    }

    // Exactly what is in use is a full host, not an overcommitted one.
    let mut tx = f.store.write().await?;
    tx.db().host_update(w.east[0], "rack-9", "{}", in_use, LATER).await?;
    tx.commit().await?;
    let full = committed_host(&f.store, w.east[0]).await?;
    assert_eq!((full.vcpus, full.memory_mib, full.disk_mib, full.gpus), (4, 8192, 102_400, 2));
    assert_eq!(used(&full), in_use);
    Ok(())
}

// The schema's last line of defence.

async fn the_schema_refuses_to_overcommit_a_host_even_when_asked_directly(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let w = world(&mut tx.db()).await?;
    assert!(tx.db().host_reserve(w.east[0], SMALL).await?);
    tx.commit().await?;

    // Releasing a negative size raises the counters without the reserve's checks.
    let over = [
        ("vcpus", Size { vcpus: -100, ..Size::default() }),
        ("memory", Size { memory_mib: -BIG.memory_mib, ..Size::default() }),
        ("disk", Size { disk_mib: -BIG.disk_mib, ..Size::default() }),
        ("gpus", Size { gpus: -(BIG.gpus + 1), ..Size::default() }),
    ];
    for (dimension, size) in over {
        let mut tx = f.store.write().await?;
        let result = tx.db().host_release(w.east[0], size).await;
        assert!(is_check_violation(&result), "overcommitting {dimension} must be refused: {result:?}");
        drop(tx);
        assert_eq!(used(&committed_host(&f.store, w.east[0]).await?), SMALL, "{dimension}");
    }
    Ok(())
}

async fn the_schema_refuses_to_release_more_than_a_host_uses(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let w = world(&mut tx.db()).await?;
    assert!(tx.db().host_reserve(w.east[0], SMALL).await?);
    tx.commit().await?;

    let under = [
        ("vcpus", Size { vcpus: SMALL.vcpus + 1, ..Size::default() }),
        ("memory", Size { memory_mib: SMALL.memory_mib + 1, ..Size::default() }),
        ("disk", Size { disk_mib: SMALL.disk_mib + 1, ..Size::default() }),
        ("gpus", Size { gpus: 1, ..Size::default() }),
    ];
    for (dimension, size) in under {
        let mut tx = f.store.write().await?;
        let result = tx.db().host_release(w.east[0], size).await;
        assert!(is_check_violation(&result), "negative {dimension} in use must be refused: {result:?}");
        drop(tx);
        assert_eq!(used(&committed_host(&f.store, w.east[0]).await?), SMALL, "{dimension}");
    }

    // A negative reserve passes the reserve's own checks; the schema still refuses it.
    let mut tx = f.store.write().await?;
    let result = tx.db().host_reserve(w.east[1], Size { vcpus: -1, ..Size::default() }).await;
    assert!(!matches!(result, Ok(true)), "a negative reserve must not succeed: {result:?}");
    drop(tx);
    assert_eq!(used(&committed_host(&f.store, w.east[1]).await?), Size::default());
    Ok(())
}

// Placement groups.

async fn groups_are_stored_with_or_without_a_region_and_a_member_limit(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let global = NewGroup {
        kind: "affinity".to_string(),
        policy: "flexible".to_string(),
        domain: "rack".to_string(),
        max_per_domain: 3,
        max_members: Some(7),
        ..new_group(w.alice, "spread", None)
    };
    let regional = new_group(w.alice, "web", Some("us-east"));
    let global_row = db.group_insert(&global, NOW).await?;
    let regional_row = db.group_insert(&regional, LATER).await?;
    assert_eq!(
        global_row,
        GroupRow {
            id: global_row.id,
            uuid: global.uuid.clone(),
            account_id: w.alice,
            label: "spread".to_string(),
            description: "the spread group".to_string(),
            region_id: None,
            kind: "affinity".to_string(),
            policy: "flexible".to_string(),
            domain: "rack".to_string(),
            max_per_domain: 3,
            max_members: Some(7),
            created_at: NOW,
            updated_at: NOW,
        }
    );
    assert_eq!(regional_row.region_id.as_deref(), Some("us-east"));
    assert_eq!(regional_row.max_members, None);
    assert_eq!((regional_row.created_at, regional_row.updated_at), (LATER, LATER));
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().tenant(w.alice).group_get(global_row.id).await?, Some(global_row));
    assert_eq!(conn.db().tenant(w.alice).group_get(regional_row.id).await?, Some(regional_row));
    Ok(())
}

async fn group_get_finds_a_group_only_in_its_own_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let group = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?;
    assert_eq!(db.tenant(w.alice).group_get(group.id).await?, Some(group.clone()));
    assert_eq!(db.tenant(w.bob).group_get(group.id).await?, None, "another account's group is not found");
    assert_eq!(db.tenant(w.alice).group_get(group.id + 1000).await?, None);
    Ok(())
}

async fn group_get_by_uuid_finds_a_group_only_in_its_own_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?;
    let spread = db.group_insert(&new_group(w.alice, "spread", None), NOW).await?;
    let theirs = db.group_insert(&new_group(w.bob, "web", Some("us-east")), NOW).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.alice).group_get_by_uuid(&web.uuid).await?, Some(web.clone()));
    assert_eq!(db.tenant(w.alice).group_get_by_uuid(&spread.uuid).await?, Some(spread), "a global group is found too");
    assert_eq!(db.tenant(w.bob).group_get_by_uuid(&theirs.uuid).await?, Some(theirs.clone()));
    assert_eq!(db.tenant(w.bob).group_get_by_uuid(&web.uuid).await?, None, "another account's group is not found");
    assert_eq!(db.tenant(w.alice).group_get_by_uuid(&theirs.uuid).await?, None, "another account's group is not found");
    assert_eq!(db.tenant(w.alice).group_get_by_uuid(&web.id.to_string()).await?, None, "an id is not a UUID");
    assert_eq!(db.tenant(w.alice).group_get_by_uuid("uuid-group").await?, None, "a prefix is not a UUID");
    assert_eq!(db.tenant(w.alice).group_get_by_uuid("").await?, None);
    Ok(())
}

async fn instances_with_firewall_are_the_accounts_instances_behind_it(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let edge = db.tenant(w.alice).firewall_insert("edge", "enabled", "{}", "[]", NOW).await?.id;
    let other = db.tenant(w.alice).firewall_insert("other", "enabled", "{}", "[]", NOW).await?.id;
    let behind = |label: &str, firewall: i64| NewInstance {
        firewall_id: Some(firewall),
        ..new_instance(w.alice, label, "us-east", w.east[0])
    };
    let a = db.instance_insert(&behind("a", edge), NOW).await?.id;
    db.instance_insert(&behind("b", other), NOW).await?;
    db.instance_insert(&new_instance(w.alice, "c", "us-east", w.east[0]), NOW).await?;
    let d = db.instance_insert(&behind("d", edge), NOW).await?.id;
    assert_eq!(ids(&db.tenant(w.alice).instances_with_firewall(edge).await?, |i| i.id), [a, d]);
    assert!(db.tenant(w.bob).instances_with_firewall(edge).await?.is_empty(), "another account's firewall");
    Ok(())
}

async fn instances_matching_narrows_by_what_is_given(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    let db_east = db.instance_insert(&new_instance(w.alice, "db", "us-east", w.east[1]), NOW).await?.id;
    let db_west = db.instance_insert(&new_instance(w.alice, "db-west", "us-west", w.west), NOW).await?.id;
    db.instance_insert(&new_instance(w.bob, "web", "us-east", w.east[0]), NOW).await?;
    let mut alice = db.tenant(w.alice);
    assert_eq!(ids(&alice.instances_matching(None, Some("web"), None).await?, |i| i.id), [web]);
    assert_eq!(ids(&alice.instances_matching(None, None, Some("us-east")).await?, |i| i.id), [web, db_east]);
    assert_eq!(ids(&alice.instances_matching(Some(db_west), None, Some("us-west")).await?, |i| i.id), [db_west]);
    assert!(alice.instances_matching(Some(db_west), Some("web"), None).await?.is_empty());
    assert_eq!(alice.instances_matching(None, None, None).await?.len(), 3);
    Ok(())
}

async fn pages_of_an_account_hold_its_rows_in_id_order_and_count_them_all(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let mut mine = Vec::new();
    for n in 0..7 {
        mine.push(db.instance_insert(&new_instance(w.alice, &format!("vm-{n}"), "us-east", w.east[0]), NOW).await?.id);
        db.instance_insert(&new_instance(w.bob, &format!("theirs-{n}"), "us-east", w.east[1]), NOW).await?;
    }
    assert_eq!(db.tenant(w.alice).instance_count().await?, 7);
    assert_eq!(ids(&db.tenant(w.alice).instances_page(0, 3).await?, |i| i.id), mine[..3]);
    assert_eq!(ids(&db.tenant(w.alice).instances_page(3, 3).await?, |i| i.id), mine[3..6]);
    assert_eq!(ids(&db.tenant(w.alice).instances_page(6, 3).await?, |i| i.id), mine[6..]);
    assert!(db.tenant(w.alice).instances_page(9, 3).await?.is_empty());
    assert_eq!(db.tenant(w.bob + 1000).instance_count().await?, 0);

    let east = db.group_insert(&new_group(w.alice, "east", Some("us-east")), NOW).await?.id;
    db.group_insert(&new_group(w.alice, "global", None), NOW).await?;
    db.group_insert(&new_group(w.bob, "theirs", Some("us-east")), NOW).await?;
    let west = db.group_insert(&new_group(w.alice, "west", Some("us-west")), NOW).await?.id;
    assert_eq!(db.tenant(w.alice).regional_group_count().await?, 2, "a global group is no region's");
    assert_eq!(ids(&db.tenant(w.alice).regional_groups_page(0, 25).await?, |g| g.id), [east, west]);
    assert_eq!(ids(&db.tenant(w.alice).regional_groups_page(1, 25).await?, |g| g.id), [west]);
    Ok(())
}

async fn groups_of_account_lists_only_that_account_in_id_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?;
    let theirs = db.group_insert(&new_group(w.bob, "web", Some("us-east")), NOW).await?;
    let spread = db.group_insert(&new_group(w.alice, "spread", None), NOW).await?;
    let db_group = db.group_insert(&new_group(w.alice, "db", Some("us-west")), NOW).await?;
    db.tenant(w.alice).group_update_label(web.id, "frontend", LATER).await?;

    assert_eq!(ids(&db.tenant(w.alice).groups_of_account().await?, |g| g.id), [web.id, spread.id, db_group.id]);
    assert_eq!(ids(&db.tenant(w.bob).groups_of_account().await?, |g| g.id), [theirs.id]);
    assert!(db.tenant(w.bob + 1000).groups_of_account().await?.is_empty());
    Ok(())
}

async fn groups_by_id_returns_the_named_groups_in_id_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?;
    let theirs = db.group_insert(&new_group(w.bob, "web", Some("us-east")), NOW).await?;
    let spread = db.group_insert(&new_group(w.alice, "spread", None), NOW).await?;
    let found = db.system().groups_by_id(&[spread.id, web.id, spread.id + 1000]).await?;
    assert_eq!(found, [web.clone(), spread]);
    assert_eq!(db.system().groups_by_id(&[theirs.id]).await?, [theirs]);
    assert!(db.system().groups_by_id(&[]).await?.is_empty());
    Ok(())
}

async fn group_count_counts_an_accounts_groups_in_one_region(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?;
    db.group_insert(&new_group(w.alice, "db", Some("us-east")), NOW).await?;
    db.group_insert(&new_group(w.alice, "cache", Some("us-west")), NOW).await?;
    db.group_insert(&new_group(w.alice, "spread", None), NOW).await?;
    db.group_insert(&new_group(w.bob, "web", Some("us-east")), NOW).await?;
    assert_eq!(db.tenant(w.alice).group_count("us-east").await?, 2);
    assert_eq!(db.tenant(w.alice).group_count("us-west").await?, 1);
    assert_eq!(db.tenant(w.bob).group_count("us-east").await?, 1);
    assert_eq!(db.tenant(w.bob).group_count("us-west").await?, 0);
    Ok(())
}

async fn group_label_taken_ignores_global_groups_other_accounts_and_the_excepted_group(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?;
    let other = db.group_insert(&new_group(w.alice, "db", Some("us-west")), NOW).await?;
    db.group_insert(&new_group(w.alice, "spread", None), NOW).await?;

    assert!(db.tenant(w.alice).group_label_taken("web", None).await?);
    assert!(db.tenant(w.alice).group_label_taken("web", Some(other.id)).await?);
    assert!(!db.tenant(w.alice).group_label_taken("web", Some(web.id)).await?, "a group does not collide with itself");
    assert!(!db.tenant(w.alice).group_label_taken("spread", None).await?, "global groups do not hold their labels");
    assert!(!db.tenant(w.bob).group_label_taken("web", None).await?, "labels are per account");
    assert!(!db.tenant(w.alice).group_label_taken("cache", None).await?);
    Ok(())
}

async fn group_update_label_relabels_only_the_accounts_group(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?;

    db.tenant(w.bob).group_update_label(web.id, "stolen", LATER).await?;
    assert_eq!(db.tenant(w.alice).group_get(web.id).await?, Some(web.clone()), "another account cannot relabel it");

    db.tenant(w.alice).group_update_label(web.id, "frontend", LATER).await?;
    tx.commit().await?;
    let relabelled = f.store.read().await?.db().tenant(w.alice).group_get(web.id).await?;
    assert_eq!(relabelled, Some(GroupRow { label: "frontend".to_string(), updated_at: LATER, ..web }));
    Ok(())
}

async fn group_delete_removes_only_the_accounts_group(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?;
    let kept = db.group_insert(&new_group(w.alice, "db", Some("us-east")), NOW).await?;

    db.tenant(w.bob).group_delete(web.id).await?;
    assert_eq!(db.tenant(w.alice).group_get(web.id).await?, Some(web.clone()), "another account cannot delete it");

    db.tenant(w.alice).group_delete(web.id).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().tenant(w.alice).group_get(web.id).await?, None);
    assert!(conn.db().system().groups_by_id(&[web.id]).await?.is_empty());
    assert_eq!(ids(&conn.db().tenant(w.alice).groups_of_account().await?, |g| g.id), [kept.id]);
    Ok(())
}

async fn groups_all_lists_every_accounts_groups_in_id_order(f: Fixture) -> Outcome {
    assert!(f.store.read().await?.db().system().groups_all().await?.is_empty(), "an empty store has no group");
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    // Labels and accounts that sort against the ids, global and regional groups, and a change
    // that may move a row in a backend's storage.
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?;
    let theirs = db.group_insert(&new_group(w.bob, "cache", Some("us-west")), NOW).await?;
    let spread = db.group_insert(&new_group(w.alice, "spread", None), NOW).await?;
    let doomed = db.group_insert(&new_group(w.bob, "doomed", None), NOW).await?;
    db.tenant(w.alice).group_update_label(web.id, "zz-frontend", LATER).await?;
    db.tenant(w.bob).group_delete(doomed.id).await?;
    tx.commit().await?;

    let relabelled = GroupRow { label: "zz-frontend".to_string(), updated_at: LATER, ..web };
    assert_eq!(f.store.read().await?.db().system().groups_all().await?, [relabelled, theirs, spread]);
    Ok(())
}

// Members.

async fn members_keep_their_join_order_across_groups(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let g1 = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let g2 = db.group_insert(&new_group(w.alice, "db", Some("us-east")), NOW).await?.id;
    let i1 = db.instance_insert(&new_instance(w.alice, "one", "us-east", w.east[0]), NOW).await?.id;
    let i2 = db.instance_insert(&new_instance(w.alice, "two", "us-east", w.east[1]), NOW).await?.id;
    let i3 = db.instance_insert(&new_instance(w.alice, "three", "us-east", w.east[0]), NOW).await?.id;
    // i3 is on its way to the other host.
    db.system().instance_set_placement(i3, Some(w.east[0]), Some(w.east[1]), "us-east", "migrating", NOW).await?;
    // Joins interleave across the groups, and not in instance order.
    db.tenant(w.alice).member_insert(g2, i3).await?;
    db.tenant(w.alice).member_insert(g1, i2).await?;
    db.tenant(w.alice).member_insert(g2, i1).await?;
    db.tenant(w.alice).member_insert(g1, i1).await?;
    db.tenant(w.alice).member_insert(g1, i3).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let both = db.system().members_of_groups(&[g1, g2]).await?;
    assert_eq!(member_pairs(&both), [(g2, i3), (g1, i2), (g2, i1), (g1, i1), (g1, i3)]);
    assert!(both.windows(2).all(|pair| pair[0].seq < pair[1].seq), "seq follows the joins: {both:?}");
    assert_eq!(member_pairs(&db.system().members_of_groups(&[g1]).await?), [(g1, i2), (g1, i1), (g1, i3)]);
    assert_eq!(db.system().members_of_groups(&[g2, g1]).await?, both, "the order of the ids asked for does not matter");
    assert!(db.system().members_of_groups(&[g2 + 1000]).await?.is_empty());
    assert!(db.system().members_of_groups(&[]).await?.is_empty());

    // Each member carries where its instance stands.
    let positions: Vec<_> = both.iter().map(|m| (m.instance_id, m.host_id, m.target_host_id)).collect();
    assert_eq!(
        positions,
        [
            (i3, Some(w.east[0]), Some(w.east[1])),
            (i2, Some(w.east[1]), None),
            (i1, Some(w.east[0]), None),
            (i1, Some(w.east[0]), None),
            (i3, Some(w.east[0]), Some(w.east[1])),
        ]
    );
    Ok(())
}

async fn memberships_of_instances_lists_their_groups_in_join_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let g1 = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let g2 = db.group_insert(&new_group(w.alice, "spread", None), NOW).await?.id;
    let i1 = db.instance_insert(&new_instance(w.alice, "one", "us-east", w.east[0]), NOW).await?.id;
    let i2 = db.instance_insert(&new_instance(w.alice, "two", "us-east", w.east[1]), NOW).await?.id;
    let i3 = db.instance_insert(&new_instance(w.alice, "three", "us-east", w.east[1]), NOW).await?.id;
    db.tenant(w.alice).member_insert(g2, i1).await?;
    db.tenant(w.alice).member_insert(g1, i2).await?;
    db.tenant(w.alice).member_insert(g1, i1).await?;
    db.tenant(w.alice).member_insert(g2, i3).await?;

    let of_one = db.system().memberships_of_instances(&[i1]).await?;
    assert_eq!(member_pairs(&of_one), [(g2, i1), (g1, i1)]);
    assert!(of_one.iter().all(|m| m.host_id == Some(w.east[0]) && m.target_host_id.is_none()));
    assert_eq!(member_pairs(&db.system().memberships_of_instances(&[i2, i1]).await?), [(g2, i1), (g1, i2), (g1, i1)]);
    assert!(db.system().memberships_of_instances(&[i3 + 1000]).await?.is_empty());
    assert!(db.system().memberships_of_instances(&[]).await?.is_empty());
    Ok(())
}

async fn memberships_in_region_follow_the_host_or_the_target(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let spread = db.group_insert(&new_group(w.alice, "spread", None), NOW).await?.id;
    let theirs = db.group_insert(&new_group(w.bob, "spread", None), NOW).await?.id;
    // Stays in the east; moves west to east; moves east to west; stays in the west; nowhere.
    let east = db.instance_insert(&new_instance(w.alice, "east", "us-east", w.east[0]), NOW).await?.id;
    let inbound = db.instance_insert(&new_instance(w.bob, "inbound", "us-west", w.west), NOW).await?.id;
    let outbound = db.instance_insert(&new_instance(w.alice, "outbound", "us-east", w.east[1]), NOW).await?.id;
    let west = db.instance_insert(&new_instance(w.alice, "west", "us-west", w.west), NOW).await?.id;
    let nowhere = db.instance_insert(&new_instance(w.alice, "nowhere", "us-west", w.west), NOW).await?.id;
    db.system().instance_set_placement(inbound, Some(w.west), Some(w.east[0]), "us-west", "migrating", NOW).await?;
    db.system().instance_set_placement(outbound, Some(w.east[1]), Some(w.west), "us-east", "migrating", NOW).await?;
    db.system().instance_set_placement(nowhere, None, None, "us-west", "offline", NOW).await?;
    for (group, instance) in [(spread, west), (theirs, inbound), (spread, nowhere), (spread, outbound), (spread, east)]
    {
        let account = if group == theirs { w.bob } else { w.alice };
        db.tenant(account).member_insert(group, instance).await?;
    }

    let in_east = db.system().memberships_in_region("us-east").await?;
    assert_eq!(member_pairs(&in_east), [(theirs, inbound), (spread, outbound), (spread, east)]);
    let in_west = db.system().memberships_in_region("us-west").await?;
    assert_eq!(member_pairs(&in_west), [(spread, west), (theirs, inbound), (spread, outbound)]);
    assert_eq!(in_west[1].target_host_id, Some(w.east[0]));
    assert!(db.system().memberships_in_region("eu-central").await?.is_empty());
    Ok(())
}

async fn members_carry_the_uuid_of_their_instance_in_every_listing(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let spread = db.group_insert(&new_group(w.alice, "spread", None), NOW).await?.id;
    let theirs = db.group_insert(&new_group(w.bob, "spread", None), NOW).await?.id;
    // UUIDs that sort against the ids, so that no listing can get them right by accident.
    let mut inserted = Vec::new();
    for (account, label, uuid, region, host) in [
        (w.alice, "one", "c3-one", "us-east", w.east[0]),
        (w.alice, "two", "a1-two", "us-west", w.west),
        (w.bob, "three", "b2-three", "us-east", w.east[1]),
    ] {
        let new = NewInstance { uuid: uuid.to_string(), ..new_instance(account, label, region, host) };
        inserted.push(db.instance_insert(&new, NOW).await?.id);
    }
    let [one, two, three] = inserted[..] else { unreachable!() };
    db.tenant(w.alice).member_insert(spread, two).await?;
    db.tenant(w.bob).member_insert(theirs, three).await?;
    db.tenant(w.alice).member_insert(web, one).await?;
    db.tenant(w.alice).member_insert(spread, one).await?;
    tx.commit().await?;

    // Each listing, reduced to (instance id, instance UUID) per row.
    let uuids = |rows: Vec<MemberRow>| -> Vec<(i64, String)> {
        rows.into_iter().map(|row| (row.instance_id, row.instance_uuid)).collect()
    };
    let one = (one, "c3-one".to_string());
    let two = (two, "a1-two".to_string());
    let three = (three, "b2-three".to_string());
    let all = [two.clone(), three.clone(), one.clone(), one.clone()];
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(uuids(db.system().members_of_groups(&[web, spread, theirs]).await?), all);
    assert_eq!(uuids(db.system().members_of_groups(&[web]).await?), std::slice::from_ref(&one));
    assert_eq!(uuids(db.system().memberships_of_instances(&[one.0, two.0, three.0]).await?), all);
    assert_eq!(uuids(db.system().memberships_of_instances(&[three.0]).await?), std::slice::from_ref(&three));
    assert_eq!(uuids(db.system().memberships_in_region("us-east").await?), [three, one.clone(), one]);
    assert_eq!(uuids(db.system().memberships_in_region("us-west").await?), [two]);
    Ok(())
}

async fn member_delete_removes_one_membership_only(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let g1 = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let g2 = db.group_insert(&new_group(w.alice, "db", Some("us-east")), NOW).await?.id;
    let i1 = db.instance_insert(&new_instance(w.alice, "one", "us-east", w.east[0]), NOW).await?.id;
    let i2 = db.instance_insert(&new_instance(w.alice, "two", "us-east", w.east[1]), NOW).await?.id;
    db.tenant(w.alice).member_insert(g1, i1).await?;
    db.tenant(w.alice).member_insert(g2, i1).await?;
    db.tenant(w.alice).member_insert(g1, i2).await?;

    // Another account's name for the same membership removes nothing.
    db.tenant(w.bob).member_delete(g1, i1).await?;
    assert_eq!(member_pairs(&db.system().members_of_groups(&[g1]).await?), [(g1, i1), (g1, i2)]);
    db.tenant(w.alice).member_delete(g1, i1).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    assert_eq!(member_pairs(&conn.db().system().members_of_groups(&[g1, g2]).await?), [(g2, i1), (g1, i2)]);
    Ok(())
}

async fn an_instance_cannot_join_the_same_group_twice(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let group = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let instance = db.instance_insert(&new_instance(w.alice, "one", "us-east", w.east[0]), NOW).await?.id;
    db.tenant(w.alice).member_insert(group, instance).await?;
    tx.commit().await?;

    // A refused statement may spoil its whole transaction (PostgreSQL's does), so the refusal
    // gets one of its own and the first membership is checked from outside.
    let mut tx = f.store.write().await?;
    let again = tx.db().tenant(w.alice).member_insert(group, instance).await;
    assert!(is_unique_violation(&again), "{again:?}");
    drop(tx);
    assert_eq!(f.store.read().await?.db().system().members_of_groups(&[group]).await?.len(), 1);
    Ok(())
}

// Instances.

async fn instances_are_stored_as_given_and_found_only_within_their_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let firewall = db.tenant(w.alice).firewall_insert("edge", "enabled", "{}", "[]", NOW).await?;
    let new = NewInstance {
        size: Size { vcpus: 2, memory_mib: 4096, disk_mib: 81_920, gpus: 1 },
        image: None,
        tags: r#"["web"]"#.to_string(),
        firewall_id: Some(firewall.id),
        ..new_instance(w.alice, "web-1", "us-east", w.east[0])
    };
    let row = db.instance_insert(&new, NOW).await?;
    assert_eq!(
        row,
        InstanceRow {
            id: row.id,
            uuid: new.uuid.clone(),
            account_id: w.alice,
            label: "web-1".to_string(),
            region_id: "us-east".to_string(),
            type_id: "g6-nanode-1".to_string(),
            vcpus: 2,
            memory_mib: 4096,
            disk_mib: 81_920,
            gpus: 1,
            host_id: Some(w.east[0]),
            target_host_id: None,
            state: "running".to_string(),
            image: None,
            tags: r#"["web"]"#.to_string(),
            firewall_id: Some(firewall.id),
            created_at: NOW,
            updated_at: NOW,
            labels: "{}".to_string(),
            offline_reason: None,
        }
    );
    assert_eq!(row.size(), new.size);
    let imaged = db.instance_insert(&new_instance(w.alice, "web-2", "us-east", w.east[1]), NOW).await?;
    assert_eq!(imaged.image.as_deref(), Some("linode/debian12"));
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.alice).instance_get(row.id).await?, Some(row.clone()));
    assert_eq!(db.tenant(w.bob).instance_get(row.id).await?, None, "another account's instance is not found");
    assert_eq!(db.tenant(w.alice).instance_get(imaged.id + 1000).await?, None);
    Ok(())
}

async fn instance_labels_are_stored_as_given_and_read_back_by_every_lookup(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    // Stored as text, byte for byte: escapes and non-ASCII included.
    let labels = r#"{"env":"prod","owner":"zoë","quote":"say \"hi\""}"#;
    let new = NewInstance { labels: labels.to_string(), ..new_instance(w.alice, "web", "us-east", w.east[0]) };
    let row = db.instance_insert(&new, NOW).await?;
    assert_eq!(row.labels, labels);
    let plain = db.instance_insert(&new_instance(w.alice, "db", "us-east", w.east[1]), NOW).await?;
    assert_eq!(plain.labels, "{}");
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.alice).instance_get(row.id).await?, Some(row.clone()));
    assert_eq!(db.tenant(w.alice).instance_get_by_uuid(&row.uuid).await?, Some(row.clone()));
    assert_eq!(db.system().instance_find(Some(row.id), None).await?, Some(row.clone()));
    assert_eq!(db.tenant(w.alice).instances_of_account().await?, [row.clone(), plain.clone()]);
    assert_eq!(db.system().instances_by_id(&[row.id]).await?, std::slice::from_ref(&row));
    assert_eq!(db.system().instances_in_region("us-east").await?, [row, plain]);
    Ok(())
}

async fn instance_get_by_uuid_finds_an_instance_only_in_its_own_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let mine = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?;
    let theirs = db.instance_insert(&new_instance(w.bob, "web", "us-east", w.east[0]), NOW).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.alice).instance_get_by_uuid(&mine.uuid).await?, Some(mine.clone()));
    assert_eq!(db.tenant(w.bob).instance_get_by_uuid(&theirs.uuid).await?, Some(theirs.clone()));
    assert_eq!(
        db.tenant(w.bob).instance_get_by_uuid(&mine.uuid).await?,
        None,
        "another account's instance is not found"
    );
    assert_eq!(
        db.tenant(w.alice).instance_get_by_uuid(&theirs.uuid).await?,
        None,
        "another account's instance is not found"
    );
    assert_eq!(db.tenant(w.alice).instance_get_by_uuid(&mine.id.to_string()).await?, None, "an id is not a UUID");
    assert_eq!(db.tenant(w.alice).instance_get_by_uuid("uuid-instance").await?, None, "a prefix is not a UUID");
    assert_eq!(db.tenant(w.alice).instance_get_by_uuid("").await?, None);
    Ok(())
}

async fn instance_find_finds_any_accounts_instance_by_id_or_by_uuid(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let mine = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?;
    let theirs = db.instance_insert(&new_instance(w.bob, "db", "us-west", w.west), NOW).await?;
    tx.commit().await?;

    let unknown = mine.id.max(theirs.id) + 1000;
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    // By id, in any account.
    assert_eq!(db.system().instance_find(Some(mine.id), None).await?, Some(mine.clone()));
    assert_eq!(db.system().instance_find(Some(theirs.id), None).await?, Some(theirs.clone()));
    assert_eq!(db.system().instance_find(Some(unknown), None).await?, None, "a wrong id finds nothing");
    // By UUID, in any account.
    assert_eq!(db.system().instance_find(None, Some(&mine.uuid)).await?, Some(mine.clone()));
    assert_eq!(db.system().instance_find(None, Some(&theirs.uuid)).await?, Some(theirs.clone()));
    assert_eq!(db.system().instance_find(None, Some("uuid-instance-0-web")).await?, None, "a wrong UUID finds nothing");
    assert_eq!(db.system().instance_find(None, Some("uuid-instance")).await?, None, "a prefix is not a UUID");
    assert_eq!(db.system().instance_find(None, Some(&theirs.id.to_string())).await?, None, "an id is not a UUID");
    // As the operator's API asks: the same text as a UUID, and as an id when it is a number.
    assert_eq!(db.system().instance_find(Some(theirs.id), Some(&theirs.id.to_string())).await?, Some(theirs));
    assert_eq!(db.system().instance_find(Some(unknown), Some(&unknown.to_string())).await?, None);
    assert_eq!(db.system().instance_find(None, None).await?, None, "asking for nothing finds nothing");
    Ok(())
}

async fn instances_of_account_lists_only_that_account_in_id_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let a1 = db.instance_insert(&new_instance(w.alice, "one", "us-east", w.east[0]), NOW).await?.id;
    let b1 = db.instance_insert(&new_instance(w.bob, "one", "us-east", w.east[0]), NOW).await?.id;
    let a2 = db.instance_insert(&new_instance(w.alice, "two", "us-west", w.west), NOW).await?.id;
    db.tenant(w.alice).instance_update(a1, "first", "[]", "{}", LATER).await?;
    assert_eq!(ids(&db.tenant(w.alice).instances_of_account().await?, |i| i.id), [a1, a2]);
    assert_eq!(ids(&db.tenant(w.bob).instances_of_account().await?, |i| i.id), [b1]);
    assert!(db.tenant(w.bob + 1000).instances_of_account().await?.is_empty());
    Ok(())
}

async fn instances_by_id_returns_the_named_instances_in_id_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let a1 = db.instance_insert(&new_instance(w.alice, "one", "us-east", w.east[0]), NOW).await?;
    let b1 = db.instance_insert(&new_instance(w.bob, "one", "us-east", w.east[0]), NOW).await?;
    let a2 = db.instance_insert(&new_instance(w.alice, "two", "us-west", w.west), NOW).await?;
    assert_eq!(db.system().instances_by_id(&[a2.id, b1.id, a1.id, a2.id + 1000]).await?, [a1, b1.clone(), a2]);
    assert_eq!(db.system().instances_by_id(&[b1.id]).await?, [b1]);
    assert!(db.system().instances_by_id(&[]).await?.is_empty());
    Ok(())
}

async fn instances_in_region_follow_the_host_or_the_target_across_accounts(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let east = db.instance_insert(&new_instance(w.alice, "east", "us-east", w.east[0]), NOW).await?.id;
    let inbound = db.instance_insert(&new_instance(w.bob, "inbound", "us-west", w.west), NOW).await?.id;
    let outbound = db.instance_insert(&new_instance(w.alice, "outbound", "us-east", w.east[1]), NOW).await?.id;
    let west = db.instance_insert(&new_instance(w.bob, "west", "us-west", w.west), NOW).await?.id;
    let nowhere = db.instance_insert(&new_instance(w.alice, "nowhere", "us-east", w.east[0]), NOW).await?.id;
    db.system().instance_set_placement(inbound, Some(w.west), Some(w.east[0]), "us-west", "migrating", NOW).await?;
    db.system().instance_set_placement(outbound, Some(w.east[1]), Some(w.west), "us-east", "migrating", NOW).await?;
    // The instance's own region says us-east, but it is on no host: it is in no region's fleet.
    db.system().instance_set_placement(nowhere, None, None, "us-east", "offline", NOW).await?;

    assert_eq!(ids(&db.system().instances_in_region("us-east").await?, |i| i.id), [east, inbound, outbound]);
    assert_eq!(ids(&db.system().instances_in_region("us-west").await?, |i| i.id), [inbound, outbound, west]);
    assert!(db.system().instances_in_region("eu-central").await?.is_empty());
    Ok(())
}

async fn instance_label_taken_is_per_account_and_honours_except(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    let other = db.instance_insert(&new_instance(w.alice, "db", "us-east", w.east[0]), NOW).await?.id;
    assert!(db.tenant(w.alice).instance_label_taken("web", None).await?);
    assert!(db.tenant(w.alice).instance_label_taken("web", Some(other)).await?);
    assert!(
        !db.tenant(w.alice).instance_label_taken("web", Some(web)).await?,
        "an instance does not collide with itself"
    );
    assert!(!db.tenant(w.bob).instance_label_taken("web", None).await?, "labels are per account");
    assert!(!db.tenant(w.alice).instance_label_taken("cache", None).await?);
    Ok(())
}

async fn instance_update_changes_label_tags_and_labels_only_within_the_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let row = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?;

    db.tenant(w.bob).instance_update(row.id, "stolen", r#"["x"]"#, r#"{"a":"b"}"#, LATER).await?;
    assert_eq!(db.tenant(w.alice).instance_get(row.id).await?, Some(row.clone()), "another account cannot update it");

    db.tenant(w.alice).instance_update(row.id, "frontend", r#"["web","prod"]"#, r#"{"tier":"web"}"#, LATER).await?;
    tx.commit().await?;
    let updated = f.store.read().await?.db().tenant(w.alice).instance_get(row.id).await?;
    let expected = InstanceRow {
        label: "frontend".to_string(),
        tags: r#"["web","prod"]"#.to_string(),
        labels: r#"{"tier":"web"}"#.to_string(),
        updated_at: LATER,
        ..row
    };
    assert_eq!(updated, Some(expected));
    Ok(())
}

async fn instance_update_replaces_or_clears_the_labels_of_one_instance_only(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let prod = |label: &str| NewInstance {
        labels: r#"{"env":"prod"}"#.to_string(),
        ..new_instance(w.alice, label, "us-east", w.east[0])
    };
    let row = db.instance_insert(&prod("web"), NOW).await?;
    let bystander = db.instance_insert(&prod("db"), NOW).await?;

    let staging = r#"{"env":"staging","team":"core"}"#;
    db.tenant(w.alice).instance_update(row.id, "web", "[]", staging, LATER).await?;
    assert_eq!(db.tenant(w.alice).instance_get(row.id).await?.map(|i| i.labels), Some(staging.to_string()));
    db.tenant(w.alice).instance_update(row.id, "web", "[]", "{}", LATER + 1).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let cleared = InstanceRow { labels: "{}".to_string(), updated_at: LATER + 1, ..row.clone() };
    assert_eq!(db.tenant(w.alice).instance_get(row.id).await?, Some(cleared));
    assert_eq!(db.tenant(w.alice).instance_get(bystander.id).await?, Some(bystander));
    Ok(())
}

async fn instance_set_placement_moves_an_instance_and_nothing_else(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let row = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?;
    let bystander = db.instance_insert(&new_instance(w.alice, "db", "us-east", w.east[0]), NOW).await?;

    db.system().instance_set_placement(row.id, Some(w.east[0]), Some(w.west), "us-east", "migrating", LATER).await?;
    let migrating =
        InstanceRow { target_host_id: Some(w.west), state: "migrating".to_string(), updated_at: LATER, ..row.clone() };
    assert_eq!(db.tenant(w.alice).instance_get(row.id).await?, Some(migrating));

    db.system().instance_set_placement(row.id, Some(w.west), None, "us-west", "running", LATER + 1).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    let moved =
        InstanceRow { host_id: Some(w.west), region_id: "us-west".to_string(), updated_at: LATER + 1, ..row.clone() };
    assert_eq!(conn.db().tenant(w.alice).instance_get(row.id).await?, Some(moved));
    assert_eq!(conn.db().tenant(w.alice).instance_get(bystander.id).await?, Some(bystander));
    Ok(())
}

async fn instance_delete_removes_the_instance_and_its_memberships(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let g1 = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let g2 = db.group_insert(&new_group(w.alice, "spread", None), NOW).await?.id;
    let doomed = db.instance_insert(&new_instance(w.alice, "doomed", "us-east", w.east[0]), NOW).await?.id;
    let kept = db.instance_insert(&new_instance(w.alice, "kept", "us-east", w.east[1]), NOW).await?.id;
    db.tenant(w.alice).member_insert(g1, doomed).await?;
    db.tenant(w.alice).member_insert(g1, kept).await?;
    db.tenant(w.alice).member_insert(g2, doomed).await?;

    db.tenant(w.bob).instance_delete(doomed).await?;
    assert!(db.tenant(w.alice).instance_get(doomed).await?.is_some(), "another account cannot delete it");
    assert_eq!(db.system().memberships_of_instances(&[doomed]).await?.len(), 2);

    db.tenant(w.alice).instance_delete(doomed).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.alice).instance_get(doomed).await?, None);
    assert!(db.system().instances_by_id(&[doomed]).await?.is_empty());
    assert!(db.system().memberships_of_instances(&[doomed]).await?.is_empty());
    assert_eq!(member_pairs(&db.system().members_of_groups(&[g1, g2]).await?), [(g1, kept)]);
    Ok(())
}

async fn instances_on_host_follow_the_host_or_the_target_across_accounts(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let here = db.instance_insert(&new_instance(w.alice, "here", "us-east", w.east[0]), NOW).await?.id;
    let theirs = db.instance_insert(&new_instance(w.bob, "theirs", "us-east", w.east[0]), NOW).await?.id;
    let inbound = db.instance_insert(&new_instance(w.alice, "inbound", "us-west", w.west), NOW).await?.id;
    let outbound = db.instance_insert(&new_instance(w.bob, "outbound", "us-east", w.east[0]), NOW).await?.id;
    let elsewhere = db.instance_insert(&new_instance(w.alice, "elsewhere", "us-east", w.east[1]), NOW).await?.id;
    let gone = db.instance_insert(&new_instance(w.alice, "gone", "us-east", w.east[0]), NOW).await?.id;
    db.system().instance_set_placement(inbound, Some(w.west), Some(w.east[0]), "us-west", "migrating", NOW).await?;
    db.system().instance_set_placement(outbound, Some(w.east[0]), Some(w.east[1]), "us-east", "migrating", NOW).await?;
    db.system().instance_set_offline(gone, "east-1 failed", LATER).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let on_east_0 = db.system().instances_on_host(w.east[0]).await?;
    assert_eq!(ids(&on_east_0, |i| i.id), [here, theirs, inbound, outbound]);
    assert_eq!(on_east_0, db.system().instances_by_id(&[here, theirs, inbound, outbound]).await?, "whole rows");
    assert_eq!(ids(&db.system().instances_on_host(w.east[1]).await?, |i| i.id), [outbound, elsewhere]);
    assert_eq!(ids(&db.system().instances_on_host(w.west).await?, |i| i.id), [inbound]);
    assert!(db.system().instances_on_host(w.west + 1000).await?.is_empty());
    Ok(())
}

async fn instances_offline_lists_every_accounts_instances_without_a_host_in_id_order(f: Fixture) -> Outcome {
    assert!(f.store.read().await?.db().system().instances_offline().await?.is_empty(), "an empty store has none");
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    db.instance_insert(&new_instance(w.alice, "running", "us-east", w.east[0]), NOW).await?;
    let theirs = db.instance_insert(&new_instance(w.bob, "theirs", "us-west", w.west), NOW).await?.id;
    let mine = db.instance_insert(&new_instance(w.alice, "mine", "us-east", w.east[1]), NOW).await?.id;
    let migrating = db.instance_insert(&new_instance(w.alice, "migrating", "us-east", w.east[0]), NOW).await?.id;
    db.system()
        .instance_set_placement(migrating, Some(w.east[0]), Some(w.east[1]), "us-east", "migrating", NOW)
        .await?;
    // Taken offline against the id order; the last one without a reason: no host is what counts.
    db.system().instance_set_offline(mine, "east-2 failed", LATER).await?;
    db.system().instance_set_offline(theirs, "west-1 failed", LATER).await?;
    let hostless = db.instance_insert(&new_instance(w.bob, "hostless", "us-east", w.east[0]), NOW).await?.id;
    db.system().instance_set_placement(hostless, None, None, "us-east", "offline", LATER).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let offline = conn.db().system().instances_offline().await?;
    assert_eq!(ids(&offline, |i| i.id), [theirs, mine, hostless]);
    assert_eq!(offline, conn.db().system().instances_by_id(&[theirs, mine, hostless]).await?, "whole rows");
    assert!(offline.iter().all(|i| i.host_id.is_none() && i.target_host_id.is_none()));
    drop(conn);

    // An instance a host takes again is offline no more.
    let mut tx = f.store.write().await?;
    tx.db().system().instance_set_placement(theirs, Some(w.west), None, "us-west", "running", LATER + 1).await?;
    tx.commit().await?;
    assert_eq!(ids(&f.store.read().await?.db().system().instances_offline().await?, |i| i.id), [mine, hostless]);
    Ok(())
}

async fn instances_all_lists_every_instance_of_every_account_in_id_order(f: Fixture) -> Outcome {
    assert!(f.store.read().await?.db().system().instances_all().await?.is_empty(), "an empty store has none");
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    // Labels and accounts that sort against the ids, instances where they run, move or wait
    // offline, and changes that may move a row in a backend's storage.
    let a1 = db.instance_insert(&new_instance(w.alice, "zz", "us-east", w.east[0]), NOW).await?.id;
    let b1 = db.instance_insert(&new_instance(w.bob, "mm", "us-west", w.west), NOW).await?.id;
    let a2 = db.instance_insert(&new_instance(w.alice, "aa", "us-east", w.east[1]), NOW).await?.id;
    let doomed = db.instance_insert(&new_instance(w.bob, "doomed", "us-east", w.east[1]), NOW).await?.id;
    db.tenant(w.alice).instance_update(a1, "zz-renamed", "[]", r#"{"k":"v"}"#, LATER).await?;
    db.system().instance_set_placement(b1, Some(w.west), Some(w.east[0]), "us-west", "migrating", LATER).await?;
    db.system().instance_set_offline(a2, "east-2 failed", LATER).await?;
    db.tenant(w.bob).instance_delete(doomed).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let all = db.system().instances_all().await?;
    assert_eq!(ids(&all, |i| i.id), [a1, b1, a2]);
    assert_eq!(all, db.system().instances_by_id(&[a1, b1, a2]).await?, "whole rows");
    assert_eq!(all[0].label, "zz-renamed");
    assert_eq!(all[2].offline_reason.as_deref(), Some("east-2 failed"));
    Ok(())
}

async fn instance_set_offline_takes_an_instance_off_its_host_and_target_with_a_reason(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let row = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?;
    let bystander = db.instance_insert(&new_instance(w.alice, "db", "us-east", w.east[0]), NOW).await?;
    let moving = db.instance_insert(&new_instance(w.bob, "moving", "us-east", w.east[0]), NOW).await?;
    db.system()
        .instance_set_placement(moving.id, Some(w.east[0]), Some(w.east[1]), "us-east", "migrating", NOW)
        .await?;
    let moving = db.tenant(w.bob).instance_get(moving.id).await?.expect("the instance exists");
    tx.commit().await?;

    // The operator takes any account's instance offline: its region and state stay as they were.
    let mut tx = f.store.write().await?;
    tx.db().system().instance_set_offline(row.id, "east-1 failed and no host could take it", LATER).await?;
    tx.db().system().instance_set_offline(moving.id, "east-1 failed mid-migration", LATER + 1).await?;
    tx.db().system().instance_set_offline(moving.id + 1000, "nothing", LATER).await?;
    tx.commit().await?;
    let offline = InstanceRow {
        host_id: None,
        target_host_id: None,
        offline_reason: Some("east-1 failed and no host could take it".to_string()),
        updated_at: LATER,
        ..row.clone()
    };
    let moving_offline = InstanceRow {
        host_id: None,
        target_host_id: None,
        offline_reason: Some("east-1 failed mid-migration".to_string()),
        updated_at: LATER + 1,
        ..moving
    };
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.alice).instance_get(row.id).await?, Some(offline.clone()));
    assert_eq!(db.tenant(w.bob).instance_get(moving.id).await?, Some(moving_offline), "the target goes too");
    assert_eq!(db.tenant(w.alice).instance_get(bystander.id).await?, Some(bystander), "another instance is untouched");
    drop(conn);

    // Taken offline again, it keeps the latest reason.
    let mut tx = f.store.write().await?;
    tx.db().system().instance_set_offline(row.id, "still no host", LATER + 2).await?;
    tx.commit().await?;
    let again = InstanceRow { offline_reason: Some("still no host".to_string()), updated_at: LATER + 2, ..offline };
    assert_eq!(f.store.read().await?.db().tenant(w.alice).instance_get(row.id).await?, Some(again));
    Ok(())
}

async fn instance_set_placement_brings_an_offline_instance_back_without_its_reason(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let row = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?;
    let other = db.instance_insert(&new_instance(w.alice, "db", "us-east", w.east[0]), NOW).await?;
    db.system().instance_set_offline(row.id, "east-1 failed", LATER).await?;
    db.system().instance_set_offline(other.id, "east-1 failed", LATER).await?;
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    tx.db().system().instance_set_placement(row.id, Some(w.west), None, "us-west", "running", LATER + 1).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let back = InstanceRow {
        host_id: Some(w.west),
        region_id: "us-west".to_string(),
        updated_at: LATER + 1,
        offline_reason: None,
        ..row.clone()
    };
    assert_eq!(db.tenant(w.alice).instance_get(row.id).await?, Some(back));
    assert_eq!(
        db.tenant(w.alice).instance_get(other.id).await?.and_then(|i| i.offline_reason),
        Some("east-1 failed".to_string()),
        "another offline instance keeps its reason"
    );
    assert_eq!(ids(&db.system().instances_offline().await?, |i| i.id), [other.id]);
    Ok(())
}

// Migrations.

async fn a_new_migration_is_running_and_found_by_id(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let group = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let instance = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    let new = NewMigration {
        target_host_id: w.west,
        target_region_id: "us-west".to_string(),
        source_group_id: Some(group),
        reason: "drain".to_string(),
        ..new_migration(&w, instance, LATER)
    };
    let row = db.migration_insert(&new, NOW).await?;
    assert_eq!(
        row,
        MigrationRow {
            id: row.id,
            account_id: w.alice,
            instance_id: instance,
            source_host_id: w.east[0],
            target_host_id: w.west,
            source_region_id: "us-east".to_string(),
            target_region_id: "us-west".to_string(),
            source_group_id: Some(group),
            target_group_id: None,
            reason: "drain".to_string(),
            state: "running".to_string(),
            created_at: NOW,
            due_at: LATER,
            finished_at: None,
            plan_id: None,
            started_at: Some(NOW),
            claimed_by: None,
            lease_expires_at: None,
            failure: None,
        }
    );
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().system().migration_get(row.id).await?, Some(row.clone()));
    assert_eq!(conn.db().system().migration_get(row.id + 1000).await?, None);
    Ok(())
}

async fn running_migrations_are_found_by_instance(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let i1 = db.instance_insert(&new_instance(w.alice, "one", "us-east", w.east[0]), NOW).await?.id;
    let i2 = db.instance_insert(&new_instance(w.alice, "two", "us-east", w.east[0]), NOW).await?.id;
    let i3 = db.instance_insert(&new_instance(w.alice, "three", "us-east", w.east[0]), NOW).await?.id;
    let m2 = db.migration_insert(&new_migration(&w, i2, LATER), NOW).await?;
    let m1 = db.migration_insert(&new_migration(&w, i1, LATER), NOW).await?;

    assert_eq!(db.system().migrations_running_for_instances(&[i1]).await?, std::slice::from_ref(&m1));
    assert_eq!(db.system().migrations_running_for_instances(&[i1, i2, i3]).await?, [m2, m1]);
    assert!(db.system().migrations_running_for_instances(&[i3]).await?.is_empty());
    assert!(db.system().migrations_running_for_instances(&[]).await?.is_empty());
    Ok(())
}

async fn running_migrations_are_found_by_source_or_target_group(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let g1 = db.group_insert(&new_group(w.alice, "one", Some("us-east")), NOW).await?.id;
    let g2 = db.group_insert(&new_group(w.alice, "two", Some("us-east")), NOW).await?.id;
    let g3 = db.group_insert(&new_group(w.alice, "three", Some("us-east")), NOW).await?.id;
    let g4 = db.group_insert(&new_group(w.alice, "four", Some("us-east")), NOW).await?.id;
    let instance = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    let out_of_g1 = NewMigration { source_group_id: Some(g1), ..new_migration(&w, instance, LATER) };
    let into_g2 = NewMigration { target_group_id: Some(g2), ..new_migration(&w, instance, LATER) };
    let within_g3 =
        NewMigration { source_group_id: Some(g3), target_group_id: Some(g3), ..new_migration(&w, instance, LATER) };
    let m1 = db.migration_insert(&out_of_g1, NOW).await?.id;
    let m2 = db.migration_insert(&into_g2, NOW).await?.id;
    let m3 = db.migration_insert(&within_g3, NOW).await?.id;
    db.migration_insert(&new_migration(&w, instance, LATER), NOW).await?;

    assert_eq!(ids(&db.system().migrations_running_for_groups(&[g1]).await?, |m| m.id), [m1]);
    assert_eq!(ids(&db.system().migrations_running_for_groups(&[g2]).await?, |m| m.id), [m2]);
    assert_eq!(ids(&db.system().migrations_running_for_groups(&[g3]).await?, |m| m.id), [m3], "listed once");
    assert_eq!(ids(&db.system().migrations_running_for_groups(&[g3, g2, g1]).await?, |m| m.id), [m1, m2, m3]);
    assert!(db.system().migrations_running_for_groups(&[g4]).await?.is_empty());
    assert!(db.system().migrations_running_for_groups(&[]).await?.is_empty());
    Ok(())
}

async fn due_migrations_come_by_due_time_then_id_up_to_the_limit(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let instance = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    let mut inserted = Vec::new();
    for due_at in [NOW + 300, NOW + 100, NOW + 200, NOW + 100, NOW + 900] {
        inserted.push(db.migration_insert(&new_migration(&w, instance, due_at), NOW).await?.id);
    }
    let [at_300, first_at_100, at_200, second_at_100, at_900] = inserted[..] else { unreachable!() };
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let due = db.system().migrations_due(NOW + 300, 100).await?;
    assert_eq!(ids(&due, |m| m.id), [first_at_100, second_at_100, at_200, at_300]);
    assert_eq!(ids(&db.system().migrations_due(NOW + 300, 2).await?, |m| m.id), [first_at_100, second_at_100]);
    assert_eq!(ids(&db.system().migrations_due(NOW + 100, 100).await?, |m| m.id), [first_at_100, second_at_100]);
    assert!(db.system().migrations_due(NOW + 99, 100).await?.is_empty());
    assert_eq!(ids(&db.system().migrations_due(NOW + 1000, 100).await?, |m| m.id).last(), Some(&at_900));
    Ok(())
}

async fn next_due_is_the_earliest_running_due_time_or_none(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    assert_eq!(db.system().migration_next_due().await?, None, "nothing runs in an empty store");
    let w = world(&mut db).await?;
    let instance = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    let late = db.migration_insert(&new_migration(&w, instance, NOW + 500), NOW).await?.id;
    let early = db.migration_insert(&new_migration(&w, instance, NOW + 300), NOW).await?.id;
    assert_eq!(db.system().migration_next_due().await?, Some(NOW + 300));
    db.system().migration_finish(early, "succeeded", NOW + 300).await?;
    assert_eq!(db.system().migration_next_due().await?, Some(NOW + 500));
    db.system().migration_finish(late, "cancelled", NOW + 400).await?;
    assert_eq!(db.system().migration_next_due().await?, None, "finished migrations are not due");
    Ok(())
}

async fn finishing_a_migration_records_its_end_and_takes_it_off_the_running_lists(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let group = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let i1 = db.instance_insert(&new_instance(w.alice, "one", "us-east", w.east[0]), NOW).await?.id;
    let i2 = db.instance_insert(&new_instance(w.alice, "two", "us-east", w.east[0]), NOW).await?.id;
    let into_group = |instance: i64| NewMigration { target_group_id: Some(group), ..new_migration(&w, instance, NOW) };
    let done = db.migration_insert(&into_group(i1), NOW).await?;
    let running = db.migration_insert(&into_group(i2), NOW).await?;

    db.system().migration_finish(done.id, "succeeded", LATER).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let finished = MigrationRow { state: "succeeded".to_string(), finished_at: Some(LATER), ..done.clone() };
    assert_eq!(db.system().migration_get(done.id).await?, Some(finished));
    assert_eq!(db.system().migration_get(running.id).await?, Some(running.clone()), "the other migration is untouched");
    assert_eq!(db.system().migrations_running_for_instances(&[i1, i2]).await?, std::slice::from_ref(&running));
    assert_eq!(db.system().migrations_running_for_groups(&[group]).await?, std::slice::from_ref(&running));
    assert_eq!(db.system().migrations_due(LATER, 100).await?, [running]);
    Ok(())
}

/// A migration a plan queued: nothing is held for it until it starts.
fn queued_migration(world: &World, instance_id: i64, plan_id: Option<i64>) -> NewMigration {
    NewMigration { state: "queued".to_string(), plan_id, ..new_migration(world, instance_id, LATER) }
}

async fn a_queued_migration_keeps_its_plan_has_not_started_and_is_not_running(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let group = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let instance = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    // Due before the running one below: a queued migration's due time means nothing yet.
    let new = NewMigration { source_group_id: Some(group), due_at: NOW + 1, ..queued_migration(&w, instance, Some(7)) };
    let row = db.migration_insert(&new, NOW).await?;
    assert_eq!(
        row,
        MigrationRow {
            id: row.id,
            account_id: w.alice,
            instance_id: instance,
            source_host_id: w.east[0],
            target_host_id: w.east[1],
            source_region_id: "us-east".to_string(),
            target_region_id: "us-east".to_string(),
            source_group_id: Some(group),
            target_group_id: None,
            reason: "repair".to_string(),
            state: "queued".to_string(),
            created_at: NOW,
            due_at: NOW + 1,
            finished_at: None,
            plan_id: Some(7),
            started_at: None,
            claimed_by: None,
            lease_expires_at: None,
            failure: None,
        }
    );
    // A running migration of the same plan has started the moment it was made.
    let running =
        db.migration_insert(&NewMigration { plan_id: Some(7), ..new_migration(&w, instance, LATER) }, NOW).await?;
    assert_eq!((running.state.as_str(), running.plan_id, running.started_at), ("running", Some(7), Some(NOW)));
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.system().migration_get(row.id).await?, Some(row.clone()));
    assert_eq!(db.system().migration_get(running.id).await?, Some(running.clone()));
    // Only the running one is on the running lists.
    assert_eq!(db.system().migrations_running_for_instances(&[instance]).await?, std::slice::from_ref(&running));
    assert!(db.system().migrations_running_for_groups(&[group]).await?.is_empty());
    assert_eq!(db.system().migrations_due(LATER, 100).await?, std::slice::from_ref(&running));
    assert_eq!(db.system().migration_next_due().await?, Some(LATER), "a queued migration is never due");
    assert_eq!(db.system().migrations_in_state("queued").await?, [row]);
    Ok(())
}

async fn migration_start_starts_a_queued_migration_once_and_nothing_else(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let instance = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    let queued = db.migration_insert(&queued_migration(&w, instance, Some(1)), NOW).await?;
    let waiting = db.migration_insert(&queued_migration(&w, instance, Some(1)), NOW).await?;
    let running = db.migration_insert(&new_migration(&w, instance, LATER), NOW).await?;
    let cancelled = db.migration_insert(&queued_migration(&w, instance, Some(2)), NOW).await?;
    db.system().migration_finish(cancelled.id, "cancelled", NOW).await?;
    let cancelled = db.system().migration_get(cancelled.id).await?.expect("the migration exists");
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    assert!(db.system().migration_start(queued.id, LATER + 500, LATER).await?);
    assert!(!db.system().migration_start(queued.id, LATER + 900, LATER + 1).await?, "a migration starts once");
    assert!(
        !db.system().migration_start(running.id, LATER + 900, LATER).await?,
        "a running migration is not restarted"
    );
    assert!(
        !db.system().migration_start(cancelled.id, LATER + 900, LATER).await?,
        "a finished migration stays finished"
    );
    assert!(
        !db.system().migration_start(cancelled.id + 1000, LATER + 900, LATER).await?,
        "an unknown one does not start"
    );
    tx.commit().await?;

    let started =
        MigrationRow { state: "running".to_string(), started_at: Some(LATER), due_at: LATER + 500, ..queued.clone() };
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.system().migration_get(queued.id).await?, Some(started.clone()));
    assert_eq!(db.system().migration_get(waiting.id).await?, Some(waiting), "another of its plan still waits");
    assert_eq!(db.system().migration_get(running.id).await?, Some(running.clone()));
    assert_eq!(db.system().migration_get(cancelled.id).await?, Some(cancelled));
    // Started, it is on the running lists, due when it was told.
    assert_eq!(db.system().migrations_running_for_instances(&[instance]).await?, [started.clone(), running]);
    assert_eq!(ids(&db.system().migrations_due(LATER + 500, 100).await?, |m| m.id).last(), Some(&started.id));
    assert!(!ids(&db.system().migrations_due(LATER + 499, 100).await?, |m| m.id).contains(&started.id));
    Ok(())
}

async fn migrations_in_state_lists_one_state_by_plan_then_id(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    assert!(db.system().migrations_in_state("queued").await?.is_empty(), "an empty store has none");
    let instance = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    // Plans made against the id order, with plan ids that sort differently as numbers and as
    // text, and one migration of no plan.
    let mut queued = Vec::new();
    for plan in [Some(10), Some(9), Some(10), None, Some(9)] {
        queued.push(db.migration_insert(&queued_migration(&w, instance, plan), NOW).await?.id);
    }
    let [ten_a, nine_a, ten_b, unplanned, nine_b] = queued[..] else { unreachable!() };
    let planned_run =
        db.migration_insert(&NewMigration { plan_id: Some(3), ..new_migration(&w, instance, LATER) }, NOW).await?.id;
    let user_run = db.migration_insert(&new_migration(&w, instance, LATER), NOW).await?.id;
    let failed = db.migration_insert(&queued_migration(&w, instance, Some(1)), NOW).await?.id;
    db.system().migration_fail(failed, "no room", LATER).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let in_queue = db.system().migrations_in_state("queued").await?;
    assert_eq!(ids(&in_queue, |m| m.id), [unplanned, nine_a, nine_b, ten_a, ten_b], "no plan first, then by plan");
    assert!(in_queue.iter().all(|m| m.state == "queued"));
    assert_eq!(in_queue[1], db.system().migration_get(nine_a).await?.expect("the migration exists"), "whole rows");
    assert_eq!(ids(&db.system().migrations_in_state("running").await?, |m| m.id), [user_run, planned_run]);
    assert_eq!(ids(&db.system().migrations_in_state("failed").await?, |m| m.id), [failed]);
    assert!(db.system().migrations_in_state("succeeded").await?.is_empty());
    assert!(db.system().migrations_in_state("Queued").await?.is_empty(), "a state is matched exactly");
    Ok(())
}

async fn migrations_recent_lists_every_accounts_migrations_newest_first_up_to_the_limit(f: Fixture) -> Outcome {
    assert!(f.store.read().await?.db().system().migrations_recent(10).await?.is_empty(), "an empty store has none");
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let mine = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    let theirs = db.instance_insert(&new_instance(w.bob, "db", "us-east", w.east[0]), NOW).await?.id;
    let their_migration = NewMigration { account_id: w.bob, ..queued_migration(&w, theirs, Some(1)) };
    let first = db.migration_insert(&new_migration(&w, mine, LATER), NOW).await?.id;
    let second = db.migration_insert(&their_migration, NOW + 1).await?.id;
    let third = db.migration_insert(&new_migration(&w, mine, LATER), NOW + 2).await?.id;
    let fourth = db.migration_insert(&queued_migration(&w, mine, Some(2)), NOW + 3).await?.id;
    // A change to an older migration does not make it recent.
    db.system().migration_finish(first, "succeeded", LATER).await?;
    db.system().migration_fail(third, "agent lost", LATER).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let recent = db.system().migrations_recent(10).await?;
    assert_eq!(ids(&recent, |m| m.id), [fourth, third, second, first]);
    assert_eq!(recent[2], db.system().migration_get(second).await?.expect("the migration exists"), "whole rows");
    assert_eq!(recent[2].account_id, w.bob, "of every account");
    assert_eq!(ids(&db.system().migrations_recent(2).await?, |m| m.id), [fourth, third]);
    assert_eq!(ids(&db.system().migrations_recent(1).await?, |m| m.id), [fourth]);
    assert!(db.system().migrations_recent(0).await?.is_empty());
    Ok(())
}

async fn migration_fail_records_the_failure_and_takes_it_off_the_running_lists(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let group = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let i1 = db.instance_insert(&new_instance(w.alice, "one", "us-east", w.east[0]), NOW).await?.id;
    let i2 = db.instance_insert(&new_instance(w.alice, "two", "us-east", w.east[0]), NOW).await?.id;
    let into_group = |instance: i64| NewMigration { target_group_id: Some(group), ..new_migration(&w, instance, NOW) };
    let doomed = db.migration_insert(&into_group(i1), NOW).await?.id;
    let running = db.migration_insert(&into_group(i2), NOW).await?;
    assert!(db.system().migration_claim(doomed, "agent-a", NOW + 100).await?);
    let claimed = db.system().migration_get(doomed).await?.expect("the migration exists");
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    tx.db().system().migration_fail(doomed, "the target refused the instance", LATER).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let failed = MigrationRow {
        state: "failed".to_string(),
        failure: Some("the target refused the instance".to_string()),
        finished_at: Some(LATER),
        ..claimed
    };
    assert_eq!(db.system().migration_get(doomed).await?, Some(failed.clone()), "who held it is kept");
    assert_eq!(db.system().migration_get(running.id).await?, Some(running.clone()), "the other migration is untouched");
    assert_eq!(db.system().migrations_running_for_instances(&[i1, i2]).await?, std::slice::from_ref(&running));
    assert_eq!(db.system().migrations_running_for_groups(&[group]).await?, std::slice::from_ref(&running));
    assert_eq!(db.system().migrations_due(LATER, 100).await?, std::slice::from_ref(&running));
    assert!(
        db.system().migrations_lease_expired(LATER).await?.is_empty(),
        "a failed migration's lease no longer counts"
    );
    assert_eq!(db.system().migrations_in_state("failed").await?, [failed]);
    assert_eq!(db.system().migrations_in_state("running").await?, [running]);
    Ok(())
}

async fn migration_claim_gives_a_running_migration_to_one_agent_only(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let instance = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    let running = db.migration_insert(&new_migration(&w, instance, LATER), NOW).await?;
    let queued = db.migration_insert(&queued_migration(&w, instance, Some(1)), NOW).await?;
    let finished = db.migration_insert(&new_migration(&w, instance, LATER), NOW).await?.id;
    db.system().migration_finish(finished, "succeeded", NOW).await?;
    let finished = db.system().migration_get(finished).await?.expect("the migration exists");
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    assert!(!db.system().migration_claim(queued.id, "agent-a", LATER).await?, "a queued migration is not claimed");
    assert!(!db.system().migration_claim(finished.id, "agent-a", LATER).await?, "a finished migration is not claimed");
    assert!(!db.system().migration_claim(running.id + 1000, "agent-a", LATER).await?, "an unknown one is not claimed");
    assert!(db.system().migration_claim(running.id, "agent-a", LATER).await?);
    assert!(!db.system().migration_claim(running.id, "agent-b", LATER + 1).await?, "another agent cannot take it");
    assert!(!db.system().migration_claim(running.id, "agent-a", LATER + 1).await?, "its holder renews, not claims");
    assert!(
        !db.system().migration_claim(running.id, "agent-b", LATER * 2).await?,
        "nor can another agent once the lease ran out: that migration is rolled back instead"
    );
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let claimed = MigrationRow { claimed_by: Some("agent-a".to_string()), lease_expires_at: Some(LATER), ..running };
    assert_eq!(db.system().migration_get(claimed.id).await?, Some(claimed));
    assert_eq!(db.system().migration_get(queued.id).await?, Some(queued));
    assert_eq!(db.system().migration_get(finished.id).await?, Some(finished));
    Ok(())
}

async fn migration_heartbeat_extends_only_its_holders_live_lease(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let instance = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    let held = db.migration_insert(&new_migration(&w, instance, LATER), NOW).await?;
    let unclaimed = db.migration_insert(&new_migration(&w, instance, LATER), NOW).await?;
    let done = db.migration_insert(&new_migration(&w, instance, LATER), NOW).await?.id;
    assert!(db.system().migration_claim(held.id, "agent-a", NOW + 100).await?);
    assert!(db.system().migration_claim(done, "agent-a", NOW + 100).await?);
    db.system().migration_finish(done, "succeeded", NOW + 1).await?;
    let done = db.system().migration_get(done).await?.expect("the migration exists");
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    assert!(
        !db.system().migration_heartbeat(held.id, "agent-b", NOW + 500, NOW + 1).await?,
        "only its holder renews it"
    );
    assert!(
        !db.system().migration_heartbeat(held.id, "agent", NOW + 500, NOW + 1).await?,
        "a prefix is not its holder"
    );
    assert!(db.system().migration_heartbeat(held.id, "agent-a", NOW + 200, NOW + 1).await?);
    // At the very instant the lease ends it is still held; one instant later it is not.
    assert!(db.system().migration_heartbeat(held.id, "agent-a", NOW + 300, NOW + 200).await?);
    assert!(
        !db.system().migration_heartbeat(held.id, "agent-a", NOW + 900, NOW + 301).await?,
        "a lost lease stays lost"
    );
    assert!(!db.system().migration_heartbeat(unclaimed.id, "agent-a", NOW + 900, NOW + 1).await?, "nobody holds it");
    assert!(!db.system().migration_heartbeat(done.id, "agent-a", NOW + 900, NOW + 2).await?, "it is finished");
    assert!(!db.system().migration_heartbeat(held.id + 1000, "agent-a", NOW + 900, NOW + 1).await?);
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let renewed = MigrationRow { claimed_by: Some("agent-a".to_string()), lease_expires_at: Some(NOW + 300), ..held };
    assert_eq!(db.system().migration_get(renewed.id).await?, Some(renewed));
    assert_eq!(db.system().migration_get(unclaimed.id).await?, Some(unclaimed));
    assert_eq!(db.system().migration_get(done.id).await?, Some(done));
    Ok(())
}

async fn migrations_lease_expired_lists_running_migrations_whose_lease_ran_out(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let instance = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    let mut inserted = Vec::new();
    for _ in 0..4 {
        inserted.push(db.migration_insert(&new_migration(&w, instance, LATER), NOW).await?.id);
    }
    let [late, early, unclaimed, done] = inserted[..] else { unreachable!() };
    db.migration_insert(&queued_migration(&w, instance, Some(1)), NOW).await?;
    // Leases that end against the id order.
    assert!(db.system().migration_claim(late, "agent-b", NOW + 300).await?);
    assert!(db.system().migration_claim(early, "agent-a", NOW + 100).await?);
    assert!(db.system().migration_claim(done, "agent-c", NOW + 50).await?);
    db.system().migration_finish(done, "succeeded", NOW + 10).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert!(
        db.system().migrations_lease_expired(NOW + 51).await?.is_empty(),
        "a finished migration's lease no longer counts"
    );
    assert!(
        db.system().migrations_lease_expired(NOW + 100).await?.is_empty(),
        "a lease holds through its last instant"
    );
    let expired = db.system().migrations_lease_expired(NOW + 101).await?;
    assert_eq!(expired, [db.system().migration_get(early).await?.expect("the migration exists")]);
    assert_eq!(ids(&db.system().migrations_lease_expired(NOW + 301).await?, |m| m.id), [late, early]);
    assert_eq!(
        ids(&db.system().migrations_lease_expired(i64::MAX).await?, |m| m.id),
        [late, early],
        "an unclaimed ({unclaimed}) or queued migration has no lease to run out"
    );
    Ok(())
}

// Failed migrations: where an instance must not be sent again.

async fn migration_failures_are_kept_once_per_instance_and_host_in_order(f: Fixture) -> Outcome {
    assert!(f.store.read().await?.db().system().migration_failures().await?.is_empty(), "an empty store has none");
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let i1 = db.instance_insert(&new_instance(w.alice, "one", "us-east", w.east[0]), NOW).await?.id;
    let i2 = db.instance_insert(&new_instance(w.bob, "two", "us-east", w.east[0]), NOW).await?.id;
    // Against the order of the listing, with one pair failing twice.
    for (instance, host) in [(i2, w.east[1]), (i1, w.west), (i1, w.east[1]), (i2, w.east[1]), (i1, w.east[0])] {
        db.system().migration_failure_insert(instance, host, NOW).await?;
    }
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    tx.db().system().migration_failure_insert(i1, w.west, LATER).await?;
    tx.commit().await?;
    let failures = f.store.read().await?.db().system().migration_failures().await?;
    assert_eq!(failures, [(i1, w.east[0]), (i1, w.east[1]), (i1, w.west), (i2, w.east[1])]);
    Ok(())
}

async fn a_migration_failure_must_name_a_known_host(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let instance = db.instance_insert(&new_instance(w.alice, "web", "us-east", w.east[0]), NOW).await?.id;
    db.system().migration_failure_insert(instance, w.east[1], NOW).await?;
    tx.commit().await?;

    // The refusal gets a transaction of its own; what it left is checked from a fresh one.
    let mut tx = f.store.write().await?;
    let result = tx.db().system().migration_failure_insert(instance, w.west + 1000, LATER).await;
    assert!(is_foreign_key_violation(&result), "{result:?}");
    drop(tx);
    assert_eq!(f.store.read().await?.db().system().migration_failures().await?, [(instance, w.east[1])]);
    Ok(())
}

async fn instance_delete_forgets_its_failed_migrations_only_when_its_account_asks(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let doomed = db.instance_insert(&new_instance(w.alice, "doomed", "us-east", w.east[0]), NOW).await?.id;
    let kept = db.instance_insert(&new_instance(w.alice, "kept", "us-east", w.east[0]), NOW).await?.id;
    let theirs = db.instance_insert(&new_instance(w.bob, "theirs", "us-east", w.east[0]), NOW).await?.id;
    for (instance, host) in [(doomed, w.east[1]), (doomed, w.west), (kept, w.east[1]), (theirs, w.east[1])] {
        db.system().migration_failure_insert(instance, host, NOW).await?;
    }
    tx.commit().await?;
    let all = f.store.read().await?.db().system().migration_failures().await?;
    assert_eq!(all.len(), 4);

    let mut tx = f.store.write().await?;
    tx.db().tenant(w.bob).instance_delete(doomed).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().system().migration_failures().await?, all, "another account forgets nothing of it");
    assert!(conn.db().tenant(w.alice).instance_get(doomed).await?.is_some());
    drop(conn);

    let mut tx = f.store.write().await?;
    tx.db().tenant(w.alice).instance_delete(doomed).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().system().migration_failures().await?, [(kept, w.east[1]), (theirs, w.east[1])]);
    assert_eq!(conn.db().tenant(w.alice).instance_get(doomed).await?, None);
    Ok(())
}

// Repair notes: why the repair of a group found no plan.

async fn repair_notes_keep_one_note_per_group_the_last_one_set(f: Fixture) -> Outcome {
    assert!(f.store.read().await?.db().system().repair_notes().await?.is_empty(), "an empty store has none");
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let theirs = db.group_insert(&new_group(w.bob, "db", Some("us-east")), NOW).await?.id;
    let spread = db.group_insert(&new_group(w.alice, "spread", None), NOW).await?.id;
    // Set against the group order, and the first group's note twice.
    db.tenant(w.alice).repair_note_set(spread, "no host in another rack", NOW).await?;
    db.tenant(w.alice).repair_note_set(web, "lack of capacity", NOW).await?;
    db.tenant(w.bob).repair_note_set(theirs, "every host is draining", NOW).await?;
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    tx.db().tenant(w.alice).repair_note_set(web, "lack of capacity in us-east", LATER).await?;
    tx.commit().await?;
    let note = |group_id: i64, account_id: i64, reason: &str, updated_at: i64| RepairNoteRow {
        group_id,
        account_id,
        reason: reason.to_string(),
        updated_at,
    };
    assert_eq!(
        f.store.read().await?.db().system().repair_notes().await?,
        [
            note(web, w.alice, "lack of capacity in us-east", LATER),
            note(theirs, w.bob, "every host is draining", NOW),
            note(spread, w.alice, "no host in another rack", NOW),
        ]
    );
    Ok(())
}

async fn repair_note_clear_forgets_one_groups_note(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let theirs = db.group_insert(&new_group(w.bob, "db", Some("us-east")), NOW).await?.id;
    let bare = db.group_insert(&new_group(w.alice, "bare", Some("us-east")), NOW).await?.id;
    db.tenant(w.alice).repair_note_set(web, "lack of capacity", NOW).await?;
    db.tenant(w.bob).repair_note_set(theirs, "every host is draining", NOW).await?;
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    db.system().repair_note_clear(web).await?;
    db.system().repair_note_clear(web).await?;
    db.system().repair_note_clear(bare).await?;
    db.system().repair_note_clear(theirs + 1000).await?;
    tx.commit().await?;
    let notes = f.store.read().await?.db().system().repair_notes().await?;
    assert_eq!(
        notes.iter().map(|n| (n.group_id, n.reason.as_str())).collect::<Vec<_>>(),
        [(theirs, "every host is draining")]
    );

    // A cleared group may be noted again.
    let mut tx = f.store.write().await?;
    tx.db().tenant(w.alice).repair_note_set(web, "no host in another rack", LATER).await?;
    tx.commit().await?;
    let notes = f.store.read().await?.db().system().repair_notes().await?;
    assert_eq!(ids(&notes, |n| n.group_id), [web, theirs]);
    assert_eq!((notes[0].reason.as_str(), notes[0].updated_at), ("no host in another rack", LATER));
    Ok(())
}

async fn a_repair_note_must_name_a_known_group(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    tx.commit().await?;

    // The refusal gets a transaction of its own; what it left is checked from a fresh one.
    let mut tx = f.store.write().await?;
    let result = tx.db().tenant(w.alice).repair_note_set(web + 1000, "lack of capacity", NOW).await;
    assert!(is_foreign_key_violation(&result), "{result:?}");
    drop(tx);
    assert!(f.store.read().await?.db().system().repair_notes().await?.is_empty());
    Ok(())
}

async fn group_delete_forgets_the_groups_repair_note_only_when_its_account_asks(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let web = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let kept = db.group_insert(&new_group(w.alice, "db", Some("us-east")), NOW).await?.id;
    let theirs = db.group_insert(&new_group(w.bob, "web", Some("us-east")), NOW).await?.id;
    for (account, group) in [(w.alice, web), (w.alice, kept), (w.bob, theirs)] {
        db.tenant(account).repair_note_set(group, "lack of capacity", NOW).await?;
    }
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    tx.db().tenant(w.bob).group_delete(web).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    assert_eq!(
        ids(&conn.db().system().repair_notes().await?, |n| n.group_id),
        [web, kept, theirs],
        "another account's ask"
    );
    assert!(conn.db().tenant(w.alice).group_get(web).await?.is_some());
    drop(conn);

    let mut tx = f.store.write().await?;
    tx.db().tenant(w.alice).group_delete(web).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    assert_eq!(ids(&conn.db().system().repair_notes().await?, |n| n.group_id), [kept, theirs]);
    assert_eq!(conn.db().tenant(w.alice).group_get(web).await?, None);
    Ok(())
}

// Counters.

async fn counter_next_counts_from_one_for_each_name(mut f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    assert_eq!(db.counter_next("plan").await?, 1);
    assert_eq!(db.counter_next("plan").await?, 2);
    assert_eq!(db.counter_next("other").await?, 1, "each name counts on its own");
    assert_eq!(db.counter_next("plan").await?, 3);
    assert_eq!(db.counter_next("Plan").await?, 1, "names are exact");
    tx.commit().await?;

    // A value taken in a change that is dropped is taken again.
    let mut tx = f.store.write().await?;
    assert_eq!(tx.db().counter_next("plan").await?, 4);
    drop(tx);
    let mut tx = f.store.write().await?;
    assert_eq!(tx.db().counter_next("plan").await?, 4);
    assert_eq!(tx.db().counter_next("other").await?, 2);
    tx.commit().await?;

    f.reopen().await?;
    let mut tx = f.store.write().await?;
    assert_eq!(tx.db().counter_next("plan").await?, 5, "counters survive a restart");
    tx.commit().await?;
    Ok(())
}

// Firewalls.

async fn firewalls_are_stored_as_given_and_found_only_within_their_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let rules = r#"{"inbound_policy":"DROP","outbound_policy":"ACCEPT"}"#;
    let row = db.tenant(w.alice).firewall_insert("edge", "enabled", rules, r#"["prod"]"#, NOW).await?;
    assert_eq!(
        row,
        FirewallRow {
            id: row.id,
            account_id: w.alice,
            label: "edge".to_string(),
            status: "enabled".to_string(),
            rules: rules.to_string(),
            tags: r#"["prod"]"#.to_string(),
            created_at: NOW,
            updated_at: NOW,
        }
    );
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().tenant(w.alice).firewall_get(row.id).await?, Some(row.clone()));
    assert_eq!(conn.db().tenant(w.bob).firewall_get(row.id).await?, None, "another account's firewall is not found");
    assert_eq!(conn.db().tenant(w.alice).firewall_get(row.id + 1000).await?, None);
    Ok(())
}

async fn firewalls_of_account_lists_only_that_account_in_id_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let a1 = db.tenant(w.alice).firewall_insert("edge", "enabled", "{}", "[]", NOW).await?.id;
    let b1 = db.tenant(w.bob).firewall_insert("edge", "enabled", "{}", "[]", NOW).await?.id;
    let a2 = db.tenant(w.alice).firewall_insert("internal", "disabled", "{}", "[]", NOW).await?.id;
    assert_eq!(ids(&db.tenant(w.alice).firewalls_of_account().await?, |f| f.id), [a1, a2]);
    assert_eq!(ids(&db.tenant(w.bob).firewalls_of_account().await?, |f| f.id), [b1]);
    assert!(db.tenant(w.bob + 1000).firewalls_of_account().await?.is_empty());
    Ok(())
}

async fn firewall_label_taken_is_per_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    db.tenant(w.alice).firewall_insert("edge", "enabled", "{}", "[]", NOW).await?;
    assert!(db.tenant(w.alice).firewall_label_taken("edge").await?);
    assert!(!db.tenant(w.bob).firewall_label_taken("edge").await?, "labels are per account");
    assert!(!db.tenant(w.alice).firewall_label_taken("internal").await?);
    Ok(())
}

async fn firewall_delete_detaches_the_instances_it_protected(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let edge = db.tenant(w.alice).firewall_insert("edge", "enabled", "{}", "[]", NOW).await?.id;
    let other = db.tenant(w.alice).firewall_insert("internal", "enabled", "{}", "[]", NOW).await?.id;
    let protect = |label: &str, firewall_id: i64| NewInstance {
        firewall_id: Some(firewall_id),
        ..new_instance(w.alice, label, "us-east", w.east[0])
    };
    let guarded = db.instance_insert(&protect("guarded", edge), NOW).await?;
    let elsewhere = db.instance_insert(&protect("elsewhere", other), NOW).await?;

    db.tenant(w.bob).firewall_delete(edge).await?;
    assert!(db.tenant(w.alice).firewall_get(edge).await?.is_some(), "another account cannot delete it");
    assert_eq!(db.tenant(w.alice).instance_get(guarded.id).await?, Some(guarded.clone()));

    db.tenant(w.alice).firewall_delete(edge).await?;
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.alice).firewall_get(edge).await?, None);
    assert_eq!(ids(&db.tenant(w.alice).firewalls_of_account().await?, |f| f.id), [other]);
    assert_eq!(db.tenant(w.alice).instance_get(guarded.id).await?, Some(InstanceRow { firewall_id: None, ..guarded }));
    assert_eq!(db.tenant(w.alice).instance_get(elsewhere.id).await?, Some(elsewhere));
    Ok(())
}

// API keys.

async fn api_keys_are_stored_as_given_and_found_by_their_key_alone(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let alice = db.tenant(w.alice).user_insert("alice-admin", "admin@alice.example", false, NOW).await?;
    let bob = db.tenant(w.bob).user_insert("bob-admin", "admin@bob.example", false, NOW).await?;
    let row = db.tenant(w.alice).api_key_insert(alice.id, "EXOalice", "sealed-alice", "ci", NOW).await?;
    assert_eq!(
        row,
        ApiKeyRow {
            id: row.id,
            account_id: w.alice,
            user_id: alice.id,
            key: "EXOalice".to_string(),
            secret: "sealed-alice".to_string(),
            name: "ci".to_string(),
            created_at: NOW,
            revoked_at: None,
        }
    );
    // The same name in another account is another key.
    let theirs = db.tenant(w.bob).api_key_insert(bob.id, "EXObob", "sealed-bob", "ci", LATER).await?;
    assert_ne!(theirs.id, row.id);
    assert_eq!((theirs.account_id, theirs.user_id, theirs.created_at), (w.bob, bob.id, LATER));
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    let found = db.system().api_key_by_key("EXOalice").await?;
    assert_eq!(found.as_ref().map(|key| key.revoked_at), Some(None), "a new key is not revoked");
    assert_eq!(found, Some(row));
    assert_eq!(db.system().api_key_by_key("EXObob").await?, Some(theirs));
    assert_eq!(db.system().api_key_by_key("sealed-alice").await?, None, "a secret is not a key");
    assert_eq!(db.system().api_key_by_key("ci").await?, None, "a name is not a key");
    assert_eq!(db.system().api_key_by_key("EXO").await?, None, "a prefix is not a key");
    assert_eq!(db.system().api_key_by_key("").await?, None);
    Ok(())
}

async fn api_key_count_counts_the_committed_keys_of_every_account(f: Fixture) -> Outcome {
    assert_eq!(f.store.read().await?.db().system().api_key_count().await?, 0, "an empty store holds no key");
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let alice = db.tenant(w.alice).user_insert("alice-admin", "admin@alice.example", false, NOW).await?.id;
    let bob = db.tenant(w.bob).user_insert("bob-admin", "admin@bob.example", false, NOW).await?.id;
    db.tenant(w.alice).api_key_insert(alice, "EXOone", "sealed-1", "one", NOW).await?;
    db.tenant(w.alice).api_key_insert(alice, "EXOtwo", "sealed-2", "two", NOW).await?;
    db.tenant(w.bob).api_key_insert(bob, "EXOthree", "sealed-3", "three", NOW).await?;
    assert_eq!(db.system().api_key_count().await?, 3, "a change counts its own keys");
    tx.commit().await?;
    assert_eq!(f.store.read().await?.db().system().api_key_count().await?, 3);

    // A key that is never committed is never counted.
    let mut tx = f.store.write().await?;
    tx.db().tenant(w.bob).api_key_insert(bob, "EXOfour", "sealed-4", "four", LATER).await?;
    assert_eq!(tx.db().system().api_key_count().await?, 4);
    drop(tx);
    assert_eq!(f.store.read().await?.db().system().api_key_count().await?, 3);
    Ok(())
}

async fn two_api_keys_cannot_share_a_key(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let alice = db.tenant(w.alice).user_insert("alice-admin", "admin@alice.example", false, NOW).await?.id;
    let bob = db.tenant(w.bob).user_insert("bob-admin", "admin@bob.example", false, NOW).await?.id;
    let first = db.tenant(w.alice).api_key_insert(alice, "EXOsame", "sealed-alice", "ci", NOW).await?;
    tx.commit().await?;

    // The refusal gets a transaction of its own; what it left is checked from a fresh one.
    let mut tx = f.store.write().await?;
    let duplicate = tx.db().tenant(w.bob).api_key_insert(bob, "EXOsame", "sealed-bob", "other", LATER).await;
    assert!(is_unique_violation(&duplicate), "{duplicate:?}");
    drop(tx);

    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().system().api_key_by_key("EXOsame").await?, Some(first), "the first key keeps its key");
    assert_eq!(conn.db().system().api_key_count().await?, 1);
    Ok(())
}

async fn api_keys_of_account_lists_only_that_account_in_id_order(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let admin = db.tenant(w.alice).user_insert("alice-admin", "admin@alice.example", false, NOW).await?.id;
    let ops = db.tenant(w.alice).user_insert("alice-ops", "ops@alice.example", true, NOW).await?.id;
    let bob = db.tenant(w.bob).user_insert("bob-admin", "admin@bob.example", false, NOW).await?.id;
    // Keys and names that sort against the ids, of two users, with another account's between.
    let zz = db.tenant(w.alice).api_key_insert(admin, "EXOzz", "sealed-zz", "zz", NOW).await?;
    let theirs = db.tenant(w.bob).api_key_insert(bob, "EXObob", "sealed-bob", "ci", NOW).await?;
    let aa = db.tenant(w.alice).api_key_insert(ops, "EXOaa", "sealed-aa", "aa", LATER).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.alice).api_keys_of_account().await?, [zz, aa]);
    assert_eq!(db.tenant(w.bob).api_keys_of_account().await?, [theirs]);
    assert!(db.tenant(w.bob + 1000).api_keys_of_account().await?.is_empty());
    Ok(())
}

async fn api_key_revoke_revokes_a_key_once_and_only_within_its_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let admin = db.tenant(w.alice).user_insert("alice-admin", "admin@alice.example", false, NOW).await?.id;
    let ci = db.tenant(w.alice).api_key_insert(admin, "EXOci", "sealed-ci", "ci", NOW).await?;
    let other = db.tenant(w.alice).api_key_insert(admin, "EXOother", "sealed-other", "other", NOW).await?;
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    assert!(!db.tenant(w.bob).api_key_revoke("EXOci", LATER).await?, "another account cannot revoke it");
    assert_eq!(db.system().api_key_by_key("EXOci").await?, Some(ci.clone()), "another account leaves it untouched");
    for wrong in ["sealed-ci", "ci", "EXO", "EXOmissing", ""] {
        assert!(!db.tenant(w.alice).api_key_revoke(wrong, LATER).await?, "{wrong:?} is not a key");
    }
    assert!(db.tenant(w.alice).api_key_revoke("EXOci", LATER).await?);
    tx.commit().await?;

    let revoked = ApiKeyRow { revoked_at: Some(LATER), ..ci };
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.system().api_key_by_key("EXOci").await?, Some(revoked.clone()), "a revoked key is still found");
    assert_eq!(db.system().api_key_by_key("EXOother").await?, Some(other.clone()), "the other key is untouched");
    assert_eq!(
        db.tenant(w.alice).api_keys_of_account().await?,
        [revoked.clone(), other],
        "a revoked key is still listed"
    );
    drop(conn);

    let mut tx = f.store.write().await?;
    assert!(!tx.db().tenant(w.alice).api_key_revoke("EXOci", LATER + 1).await?, "a key is revoked only once");
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().system().api_key_by_key("EXOci").await?, Some(revoked), "the first revocation's time stands");
    Ok(())
}

// Operations.

fn operation(id: &str, account_id: i64, created_at: i64) -> OperationRow {
    OperationRow {
        id: id.to_string(),
        account_id,
        state: "success".to_string(),
        reason: None,
        message: String::new(),
        reference_id: format!("uuid-of-{id}"),
        reference_link: format!("/v2/instance/uuid-of-{id}"),
        reference_command: "create-instance".to_string(),
        created_at,
    }
}

async fn operations_are_stored_as_given_and_found_only_within_their_account(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let done = operation("op-done", w.alice, NOW);
    let failed = OperationRow {
        state: "failure".to_string(),
        reason: Some("conflict".to_string()),
        message: "the label is taken".to_string(),
        reference_command: "update-instance".to_string(),
        ..operation("op-failed", w.alice, LATER)
    };
    let theirs = operation("op-theirs", w.bob, NOW);
    for row in [&done, &failed, &theirs] {
        db.operation_insert(row).await?;
    }
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.alice).operation_get("op-done").await?, Some(done));
    assert_eq!(db.tenant(w.alice).operation_get("op-failed").await?, Some(failed));
    assert_eq!(db.tenant(w.bob).operation_get("op-theirs").await?, Some(theirs));
    assert_eq!(db.tenant(w.bob).operation_get("op-done").await?, None, "another account's operation is not found");
    assert_eq!(db.tenant(w.alice).operation_get("op-theirs").await?, None, "another account's operation is not found");
    assert_eq!(db.tenant(w.alice).operation_get("op").await?, None, "a prefix is not an id");
    assert_eq!(db.tenant(w.alice).operation_get("op-missing").await?, None);
    Ok(())
}

async fn operations_purge_forgets_only_those_created_before_the_cutoff(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let ancient = operation("op-ancient", w.bob, NOW - 60_000);
    let old = operation("op-old", w.alice, NOW - 1);
    let at_cutoff = operation("op-at-cutoff", w.alice, NOW);
    let new = operation("op-new", w.bob, LATER);
    for row in [&new, &old, &at_cutoff, &ancient] {
        db.operation_insert(row).await?;
    }
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    assert_eq!(tx.db().system().operations_purge(NOW).await?, 2, "the two older operations, of both accounts");
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert_eq!(db.tenant(w.bob).operation_get("op-ancient").await?, None);
    assert_eq!(db.tenant(w.alice).operation_get("op-old").await?, None);
    assert_eq!(db.tenant(w.alice).operation_get("op-at-cutoff").await?, Some(at_cutoff), "the cut-off itself is kept");
    assert_eq!(db.tenant(w.bob).operation_get("op-new").await?, Some(new.clone()));
    drop(conn);

    let mut tx = f.store.write().await?;
    assert_eq!(tx.db().system().operations_purge(NOW).await?, 0, "nothing is purged twice");
    assert_eq!(tx.db().system().operations_purge(LATER).await?, 1);
    tx.commit().await?;
    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().tenant(w.alice).operation_get("op-at-cutoff").await?, None);
    assert_eq!(conn.db().tenant(w.bob).operation_get("op-new").await?, Some(new));
    Ok(())
}

// The operator's credentials.

async fn operator_tokens_exist_only_for_their_exact_hash(f: Fixture) -> Outcome {
    assert!(!f.store.read().await?.db().operator_token_exists("hash-admin").await?, "an empty store has none");
    let mut tx = f.store.write().await?;
    tx.db().operator_token_insert("admin", "hash-admin", NOW).await?;
    tx.db().operator_token_insert("backup", "hash-backup", LATER).await?;
    tx.commit().await?;

    let mut conn = f.store.read().await?;
    let mut db = conn.db();
    assert!(db.operator_token_exists("hash-admin").await?);
    assert!(db.operator_token_exists("hash-backup").await?);
    for wrong in ["admin", "hash-", "hash-admin2", "hash-admin ", "HASH-ADMIN", ""] {
        assert!(!db.operator_token_exists(wrong).await?, "{wrong:?} is not the exact hash");
    }
    Ok(())
}

async fn two_operator_tokens_cannot_share_a_hash(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    tx.db().operator_token_insert("admin", "hash-same", NOW).await?;
    tx.commit().await?;

    // The refusal gets a transaction of its own; what it left is checked from a fresh one.
    let mut tx = f.store.write().await?;
    let duplicate = tx.db().operator_token_insert("other", "hash-same", LATER).await;
    assert!(is_unique_violation(&duplicate), "{duplicate:?}");
    drop(tx);
    assert!(f.store.read().await?.db().operator_token_exists("hash-same").await?, "the first token stands");

    let mut tx = f.store.write().await?;
    tx.db().operator_token_insert("other", "hash-other", LATER).await?;
    tx.commit().await?;
    assert!(f.store.read().await?.db().operator_token_exists("hash-other").await?);
    Ok(())
}

// Concurrency: locks, leases, claims and failures.

async fn meta_claim_sets_a_key_only_once(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    assert!(tx.db().meta_claim("seeded", "first").await?);
    assert!(!tx.db().meta_claim("seeded", "second").await?, "a claimed key stays claimed");
    tx.commit().await?;
    let mut tx = f.store.write().await?;
    assert!(!tx.db().meta_claim("seeded", "third").await?);
    assert!(tx.db().meta_claim("other", "x").await?, "keys are claimed one by one");
    drop(tx);
    let mut conn = f.store.read().await?;
    assert_eq!(conn.db().meta_get("seeded").await?, Some("first".to_string()));
    assert_eq!(conn.db().meta_get("other").await?, None, "a dropped claim is no claim");
    Ok(())
}

/// The guarantee every re-validation rests on: once a change has locked a group, another
/// change that locks it too reads its members only after the first has ended, and then sees
/// what the first committed. (On SQLite the second change waits for the one writer; on
/// PostgreSQL it waits for the row lock.)
async fn a_change_that_locks_a_group_holds_off_another_until_it_commits(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let group = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let first = db.instance_insert(&new_instance(w.alice, "web-1", "us-east", w.east[0]), NOW).await?.id;
    let second = db.instance_insert(&new_instance(w.alice, "web-2", "us-east", w.east[1]), NOW).await?.id;
    tx.commit().await?;

    let mut holder = f.store.write().await?;
    holder.db().groups_lock(&[group]).await?;
    let store = f.store.clone();
    let (locked_tx, mut locked) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn(async move {
        let mut tx = store.write().await?;
        tx.db().groups_lock(&[group]).await?;
        let _ = locked_tx.send(());
        let members = tx.db().system().members_of_groups(&[group]).await?;
        tx.db().tenant(w.alice).member_insert(group, second).await?;
        tx.commit().await?;
        Ok::<_, StoreError>(members)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(locked.try_recv().is_err(), "the second change must wait for the first");
    holder.db().tenant(w.alice).member_insert(group, first).await?;
    holder.commit().await?;

    let seen = waiter.await.expect("the waiting change ends")?;
    assert_eq!(member_pairs(&seen), [(group, first)], "the second change sees what the first committed");
    let members = f.store.read().await?.db().system().members_of_groups(&[group]).await?;
    assert_eq!(member_pairs(&members), [(group, first), (group, second)], "join order follows commit order");
    Ok(())
}

/// Two changes that want one label for their resources wait for each other, and the second
/// then finds the label taken; on PostgreSQL a change that wants another label does not wait.
async fn a_change_that_locks_a_label_holds_off_another_for_that_label_only(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let w = world(&mut tx.db()).await?;
    tx.commit().await?;

    let mut holder = f.store.write().await?;
    holder.db().label_lock("linode", w.alice, "web-1").await?;
    if f.backend == Backend::Postgres {
        let mut other = f.store.write().await?;
        other.db().label_lock("linode", w.alice, "web-2").await?;
        other.db().label_lock("linode", w.bob, "web-1").await?;
        other.db().label_lock("group", w.alice, "web-1").await?;
        other.commit().await?;
    }
    let store = f.store.clone();
    let (locked_tx, mut locked) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn(async move {
        let mut tx = store.write().await?;
        tx.db().label_lock("linode", w.alice, "web-1").await?;
        let _ = locked_tx.send(());
        let taken = tx.db().tenant(w.alice).instance_label_taken("web-1", None).await?;
        tx.commit().await?;
        Ok::<_, StoreError>(taken)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(locked.try_recv().is_err(), "the second change must wait for the first");
    holder.db().instance_insert(&new_instance(w.alice, "web-1", "us-east", w.east[0]), NOW).await?;
    holder.commit().await?;
    assert!(waiter.await.expect("the waiting change ends")?, "the second change sees the label taken");
    Ok(())
}

/// Every lock query takes what it names, whatever else exists, and never fails on ids that
/// are gone or on an empty list.
async fn every_lock_can_be_taken_inside_a_change(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    let w = world(&mut db).await?;
    let group = db.group_insert(&new_group(w.alice, "web", Some("us-east")), NOW).await?.id;
    let instance = db.instance_insert(&new_instance(w.alice, "web-1", "us-east", w.east[0]), NOW).await?.id;
    let migration = db.migration_insert(&new_migration(&w, instance, LATER), NOW).await?.id;
    tx.commit().await?;

    let mut tx = f.store.write().await?;
    let mut db = tx.db();
    db.account_lock(w.alice).await?;
    db.groups_lock(&[group, group + 1000]).await?;
    db.groups_lock(&[]).await?;
    db.instances_lock(&[instance]).await?;
    db.migration_lock(migration).await?;
    db.hosts_lock(&[w.east[1], w.east[0]]).await?;
    db.region_hosts_lock("us-east").await?;
    db.region_hosts_lock("nowhere").await?;
    assert!(db.host_reserve(w.east[0], SMALL).await?, "a change writes what it locked");
    tx.commit().await?;
    assert_eq!(used(&f.store.read().await?.db().host_get(w.east[0]).await?.expect("the host")), SMALL);
    Ok(())
}

async fn the_database_clock_tells_the_time(f: Fixture) -> Outcome {
    let system = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis();
    let system = i64::try_from(system).expect("a time that fits");
    let first = f.store.read().await?.db().clock().await?;
    assert!((first - system).abs() < 5_000, "the database's clock {first} is far from this machine's {system}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second = f.store.read().await?.db().clock().await?;
    assert!(second > first, "the clock moves: {first} then {second}");
    Ok(())
}

/// Takes or renews a lease in a change of its own, as a process does.
async fn lease_acquire(store: &Store, name: &str, holder: &str, ttl_ms: i64) -> Result<Option<LeaseRow>, StoreError> {
    let mut tx = store.write().await?;
    let lease = tx.db().lease_acquire(name, holder, ttl_ms).await?;
    tx.commit().await?;
    Ok(lease)
}

/// Gives a lease up in a change of its own.
async fn lease_release(store: &Store, name: &str, holder: &str) -> Result<bool, StoreError> {
    let mut tx = store.write().await?;
    let released = tx.db().lease_release(name, holder).await?;
    tx.commit().await?;
    Ok(released)
}

async fn a_lease_has_one_holder_until_it_runs_out(f: Fixture) -> Outcome {
    let store = &f.store;
    assert_eq!(store.read().await?.db().lease_get("background").await?, None);
    let a = lease_acquire(store, "background", "a", 60_000).await?.expect("a free lease is taken");
    assert_eq!((a.name.as_str(), a.holder.as_str()), ("background", "a"));
    assert!(a.expires_at >= a.acquired_at + 60_000);
    assert_eq!(lease_acquire(store, "background", "b", 60_000).await?, None, "a held lease is not taken");
    assert!(lease_acquire(store, "other", "b", 60_000).await?.is_some(), "leases are held one by one");

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let renewed = lease_acquire(store, "background", "a", 60_000).await?.expect("its holder renews it");
    assert_eq!(renewed.acquired_at, a.acquired_at, "a renewal keeps the time it was first taken");
    assert!(renewed.expires_at > a.expires_at, "a renewal pushes the expiry");
    assert_eq!(store.read().await?.db().lease_get("background").await?, Some(renewed.clone()));

    // Shortened to nothing by its holder, it runs out, and another takes it.
    lease_acquire(store, "background", "a", -1).await?.expect("its holder renews it");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let b = lease_acquire(store, "background", "b", 60_000).await?.expect("a lease that ran out is taken");
    assert_eq!(b.holder, "b");
    assert!(b.acquired_at > a.acquired_at, "a new holder's lease starts anew");
    assert_eq!(lease_acquire(store, "background", "a", 60_000).await?, None, "the old holder lost it");

    assert!(!lease_release(store, "background", "a").await?, "only the holder gives a lease up");
    assert!(lease_release(store, "background", "b").await?);
    assert_eq!(store.read().await?.db().lease_get("background").await?, None);
    assert!(lease_acquire(store, "background", "a", 60_000).await?.is_some(), "a lease given up is free");
    Ok(())
}

/// Two processes asking for one free lease at the same moment: exactly one gets it.
async fn a_free_lease_goes_to_exactly_one_of_many_at_once(f: Fixture) -> Outcome {
    let mut askers = Vec::new();
    for holder in 0..8 {
        let store = f.store.clone();
        askers.push(tokio::spawn(async move {
            lease_acquire(&store, "background", &format!("holder-{holder}"), 60_000).await
        }));
    }
    let mut winners = Vec::new();
    for asker in askers {
        if let Some(lease) = asker.await.expect("the asker ends")? {
            winners.push(lease.holder);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = f.store.read().await?.db().lease_get("background").await?.expect("the lease is held");
    assert_eq!(stored.holder, winners[0]);
    Ok(())
}

async fn errors_say_whether_to_retry(f: Fixture) -> Outcome {
    let mut tx = f.store.write().await?;
    tx.db().account_insert("alice", NOW).await?;
    let duplicate = tx.db().account_insert("alice", NOW).await;
    assert!(is_unique_violation(&duplicate));
    assert_eq!(duplicate.expect_err("a duplicate").failure(), Failure::Duplicate);
    drop(tx);
    let mut tx = f.store.write().await?;
    let unknown = tx.db().tenant(12_345).user_insert("nobody", "n@example.com", false, NOW).await;
    assert_eq!(unknown.expect_err("an unknown account").failure(), Failure::Other, "a broken constraint is a bug");
    drop(tx);
    f.store.close().await;
    let closed = f.store.read().await.expect_err("a closed store has no connection");
    assert_eq!(closed.failure(), Failure::Unavailable);
    Ok(())
}

conformance! {
    backends: [
        sqlite,
        #[cfg(feature = "postgres-tests")]
        postgres,
    ],
    tests: [
        the_store_and_its_connections_report_their_backend,
        ping_answers_on_an_open_store,
        a_transaction_dropped_without_commit_leaves_nothing_behind,
        changes_started_together_are_each_kept_whole_or_not_at_all,
        a_change_is_invisible_to_readers_until_it_commits,
        a_snapshot_sees_one_instant_across_its_reads,
        a_snapshot_cannot_change_anything,
        a_plain_read_connection_cannot_change_anything,
        the_schema_describes_its_tables_keys_checks_and_indexes,
        reopening_the_store_keeps_its_data,
        schema_migrations_run_idempotently_on_reopen,
        meta_keeps_the_last_value_set_for_each_key,
        accounts_are_found_by_id_and_names_are_unique,
        users_are_found_only_within_their_account,
        tokens_are_found_by_their_secret_hash_alone,
        two_tokens_cannot_share_a_secret_hash,
        accounts_are_listed_in_id_order_and_found_by_their_exact_name,
        users_of_account_lists_only_that_account_in_id_order,
        users_are_found_by_their_exact_username_in_any_account,
        two_users_cannot_share_a_username_even_across_accounts,
        tokens_of_user_lists_only_that_users_tokens_in_its_account_in_id_order,
        token_revoke_revokes_a_token_once_and_only_within_its_account,
        global_grants_of_user_lists_that_users_grants_by_name,
        entity_grants_of_user_lists_that_users_grants_by_type_then_id,
        grants_replace_replaces_both_kinds_for_that_user_only,
        a_refused_grants_replace_leaves_the_old_grants_in_place,
        entity_grant_set_inserts_a_grant_or_updates_its_permission,
        entity_grants_delete_forgets_one_entity_for_every_user_of_its_account_only,
        events_keep_every_column_with_or_without_the_optional_ones,
        event_ids_increase_and_events_of_account_lists_only_that_account_newest_first,
        event_pages_hold_the_kinds_asked_for_newest_first_and_count_them,
        regions_are_listed_in_id_order_and_found_by_id,
        hosts_are_listed_by_region_in_id_order,
        a_host_is_stored_as_given_with_nothing_in_use,
        hosts_by_id_returns_the_named_hosts_in_id_order,
        long_id_lists_find_every_row_once_in_order,
        host_reserve_takes_free_capacity_and_counts_it_exactly,
        host_reserve_refuses_a_size_beyond_capacity_in_each_dimension,
        host_reserve_refuses_a_host_that_is_not_active,
        host_release_gives_back_exactly_what_it_is_told,
        host_labels_are_stored_as_given_and_read_back_by_every_lookup,
        hosts_all_lists_every_host_of_every_region_in_id_order,
        host_by_name_finds_a_host_by_its_exact_name_only,
        two_hosts_cannot_share_a_name,
        host_set_state_changes_the_state_and_its_time_and_nothing_else,
        host_update_changes_rack_labels_and_capacity_but_not_what_is_in_use,
        the_schema_refuses_a_host_update_below_what_is_in_use,
        the_schema_refuses_to_overcommit_a_host_even_when_asked_directly,
        the_schema_refuses_to_release_more_than_a_host_uses,
        groups_are_stored_with_or_without_a_region_and_a_member_limit,
        group_get_finds_a_group_only_in_its_own_account,
        group_get_by_uuid_finds_a_group_only_in_its_own_account,
        groups_of_account_lists_only_that_account_in_id_order,
        pages_of_an_account_hold_its_rows_in_id_order_and_count_them_all,
        instances_matching_narrows_by_what_is_given,
        instances_with_firewall_are_the_accounts_instances_behind_it,
        groups_by_id_returns_the_named_groups_in_id_order,
        group_count_counts_an_accounts_groups_in_one_region,
        group_label_taken_ignores_global_groups_other_accounts_and_the_excepted_group,
        group_update_label_relabels_only_the_accounts_group,
        group_delete_removes_only_the_accounts_group,
        groups_all_lists_every_accounts_groups_in_id_order,
        members_keep_their_join_order_across_groups,
        memberships_of_instances_lists_their_groups_in_join_order,
        memberships_in_region_follow_the_host_or_the_target,
        members_carry_the_uuid_of_their_instance_in_every_listing,
        member_delete_removes_one_membership_only,
        an_instance_cannot_join_the_same_group_twice,
        instances_are_stored_as_given_and_found_only_within_their_account,
        instance_labels_are_stored_as_given_and_read_back_by_every_lookup,
        instance_get_by_uuid_finds_an_instance_only_in_its_own_account,
        instance_find_finds_any_accounts_instance_by_id_or_by_uuid,
        instances_of_account_lists_only_that_account_in_id_order,
        instances_by_id_returns_the_named_instances_in_id_order,
        instances_in_region_follow_the_host_or_the_target_across_accounts,
        instance_label_taken_is_per_account_and_honours_except,
        instance_update_changes_label_tags_and_labels_only_within_the_account,
        instance_update_replaces_or_clears_the_labels_of_one_instance_only,
        instance_set_placement_moves_an_instance_and_nothing_else,
        instance_delete_removes_the_instance_and_its_memberships,
        instances_on_host_follow_the_host_or_the_target_across_accounts,
        instances_offline_lists_every_accounts_instances_without_a_host_in_id_order,
        instances_all_lists_every_instance_of_every_account_in_id_order,
        instance_set_offline_takes_an_instance_off_its_host_and_target_with_a_reason,
        instance_set_placement_brings_an_offline_instance_back_without_its_reason,
        a_new_migration_is_running_and_found_by_id,
        running_migrations_are_found_by_instance,
        running_migrations_are_found_by_source_or_target_group,
        due_migrations_come_by_due_time_then_id_up_to_the_limit,
        next_due_is_the_earliest_running_due_time_or_none,
        finishing_a_migration_records_its_end_and_takes_it_off_the_running_lists,
        a_queued_migration_keeps_its_plan_has_not_started_and_is_not_running,
        migration_start_starts_a_queued_migration_once_and_nothing_else,
        migrations_in_state_lists_one_state_by_plan_then_id,
        migrations_recent_lists_every_accounts_migrations_newest_first_up_to_the_limit,
        migration_fail_records_the_failure_and_takes_it_off_the_running_lists,
        migration_claim_gives_a_running_migration_to_one_agent_only,
        migration_heartbeat_extends_only_its_holders_live_lease,
        migrations_lease_expired_lists_running_migrations_whose_lease_ran_out,
        migration_failures_are_kept_once_per_instance_and_host_in_order,
        a_migration_failure_must_name_a_known_host,
        instance_delete_forgets_its_failed_migrations_only_when_its_account_asks,
        repair_notes_keep_one_note_per_group_the_last_one_set,
        repair_note_clear_forgets_one_groups_note,
        a_repair_note_must_name_a_known_group,
        group_delete_forgets_the_groups_repair_note_only_when_its_account_asks,
        counter_next_counts_from_one_for_each_name,
        firewalls_are_stored_as_given_and_found_only_within_their_account,
        firewalls_of_account_lists_only_that_account_in_id_order,
        firewall_label_taken_is_per_account,
        firewall_delete_detaches_the_instances_it_protected,
        api_keys_are_stored_as_given_and_found_by_their_key_alone,
        api_key_count_counts_the_committed_keys_of_every_account,
        two_api_keys_cannot_share_a_key,
        api_keys_of_account_lists_only_that_account_in_id_order,
        api_key_revoke_revokes_a_key_once_and_only_within_its_account,
        operations_are_stored_as_given_and_found_only_within_their_account,
        operations_purge_forgets_only_those_created_before_the_cutoff,
        operator_tokens_exist_only_for_their_exact_hash,
        two_operator_tokens_cannot_share_a_hash,
        meta_claim_sets_a_key_only_once,
        a_change_that_locks_a_group_holds_off_another_until_it_commits,
        every_lock_can_be_taken_inside_a_change,
        a_change_that_locks_a_label_holds_off_another_for_that_label_only,
        the_database_clock_tells_the_time,
        a_lease_has_one_holder_until_it_runs_out,
        a_free_lease_goes_to_exactly_one_of_many_at_once,
        errors_say_whether_to_retry,
    ],
}

/// The two backends' migrations are twins: whatever one schema defines, the other defines the
/// same way, as far as `Store::schema` can tell them apart.
#[cfg(feature = "postgres-tests")]
#[tokio::test]
async fn the_sqlite_and_postgresql_migrations_define_the_same_schema() -> Outcome {
    let sqlite = sqlite().await.store.schema().await?;
    let postgres = postgres().await.store.schema().await?;
    let mut differences = Vec::new();
    for name in sqlite.tables.keys().chain(postgres.tables.keys()).collect::<std::collections::BTreeSet<_>>() {
        match (sqlite.tables.get(name), postgres.tables.get(name)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => differences.push(format!("table {name}:\n  SQLite:     {a:?}\n  PostgreSQL: {b:?}")),
        }
    }
    assert!(differences.is_empty(), "the migrations differ:\n{}", differences.join("\n"));
    assert!(!sqlite.tables.is_empty());
    Ok(())
}

/// A database written before core named grants and events in its own terms keeps every row,
/// under the domain's names, once `Store::open` brings its schema up to date.
#[tokio::test]
async fn rows_written_under_the_dialect_names_keep_their_meaning_under_the_domain_names()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let earlier = dir.path().join("migrations");
    std::fs::create_dir(&earlier)?;
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&all)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.as_str() < "0006" {
            std::fs::copy(&path, earlier.join(&name))?;
        }
    }
    let path = dir.path().join("berth.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await?;
    sqlx::migrate::Migrator::new(earlier.as_path()).await?.run(&pool).await?;
    for statement in [
        "INSERT INTO accounts (id, name, created_at) VALUES (1, 'old', 0)",
        "INSERT INTO users (id, account_id, username, email, restricted, created_at) \
         VALUES (1, 1, 'dev', 'dev@example.com', 1, 0)",
        "INSERT INTO global_grants (account_id, user_id, grant_name) VALUES (1, 1, 'add_linodes'), \
         (1, 1, 'add_firewalls'), (1, 1, 'add_volumes')",
        "INSERT INTO entity_grants (account_id, user_id, entity_type, entity_id, permission) \
         VALUES (1, 1, 'linode', 7, 'read_write'), (1, 1, 'placement_group', 3, 'read_only')",
        "INSERT INTO events (account_id, username, action, status, entity_type, entity_id, entity_uuid, \
         entity_label, secondary_type, secondary_id, secondary_label, message, created_at) VALUES \
         (1, 'dev', 'placement_group_assign', 'finished', 'placement_group', 3, '', 'g', 'linode', 7, 'vm', '', 1), \
         (1, NULL, 'linode_migrate_datacenter', 'started', 'linode', 7, '', 'vm', NULL, NULL, NULL, '', 2), \
         (1, NULL, 'placement_group_became_compliant', 'notification', 'anti_affinity_group', 4, '', 'a', NULL, \
         NULL, NULL, '', 3)",
    ] {
        sqlx::query(statement).execute(&pool).await?;
    }
    pool.close().await;

    let store = Store::open(path.to_str().expect("a UTF-8 path")).await?;
    let mut conn = store.read().await?;
    let mut db = conn.db();
    assert_eq!(
        db.system().global_grants_of_user(1).await?,
        ["add_volumes", "create_firewalls", "create_instances"],
        "grants core enforces take its names; the others stay as the dialect named them"
    );
    let kinds: Vec<(String, i64)> =
        db.system().entity_grants_of_user(1).await?.into_iter().map(|g| (g.entity_type, g.entity_id)).collect();
    assert_eq!(kinds, [("group".to_string(), 3), ("instance".to_string(), 7)]);
    let events: Vec<(String, String, Option<String>)> = db
        .tenant(1)
        .events_of_account()
        .await?
        .into_iter()
        .map(|e| (e.action, e.entity_type, e.secondary_type))
        .collect();
    assert_eq!(
        events,
        [
            ("group_became_compliant".to_string(), "global_group".to_string(), None),
            ("instance_migrate_region".to_string(), "instance".to_string(), None),
            ("group_assign".to_string(), "group".to_string(), Some("instance".to_string())),
        ]
    );
    Ok(())
}
