//! Two `Berth`s on one database (a SQLite file, or a PostgreSQL database when
//! `BERTH_TEST_POSTGRES_URL` names a server) stand for two processes: each caches its own view of the
//! fleet, so each acts on a stale cache as soon as the other changes something. A stale cache
//! must cost a retry, never a broken group or an overcommitted host.

use berth_core::{FailureDomain, Field, GroupChoice, GroupCreate, GroupKey, GroupKind, Label, Policy, RegionId, Scope};

use crate::{create, fleet, open};

#[tokio::test]
async fn a_choice_from_a_stale_cache_is_caught_in_the_transaction_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let url = store::testing::fresh_database(dir.path()).await.unwrap();
    let first = open(&url).await;
    let second = open(&url).await;
    first.fleet_seed(&fleet(3, 16)).await.unwrap();
    let principal = first.account_seed("acme", "ops", "ops@example.com", "stale-cache-token-0123456789").await.unwrap();

    // The second process loads its cache now; everything after this is news to it.
    let warm = second.instance_create(&principal, create(Vec::new())).await.unwrap();
    let group = first
        .group_create(
            &principal,
            GroupCreate {
                label: Label::parse(Field::Label, "apart").unwrap(),
                description: String::new(),
                scope: Scope::Region(RegionId::parse("two-proc").unwrap()),
                kind: GroupKind::AntiAffinity,
                policy: Policy::Strict,
                domain: FailureDomain::Host,
                max_per_domain: 1,
                max_members: None,
            },
        )
        .await
        .unwrap();
    let into_group = || vec![GroupChoice { group: GroupKey::Regional(group.group.id), compliant_only: false }];
    let a = first.instance_create(&principal, create(into_group())).await.unwrap();
    let b = second.instance_create(&principal, create(into_group())).await.unwrap();
    assert_ne!(a.instance.host, b.instance.host, "the stale choice was re-validated and retried");
    assert_ne!(a.instance.host, warm.instance.host);

    let view = second.group_get(&principal, &GroupKey::Regional(group.group.id)).await.unwrap();
    assert!(view.is_compliant);
    let region = RegionId::parse("two-proc").unwrap();
    assert_eq!(first.region_check(&region).await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn a_host_filled_behind_a_caches_back_is_never_overcommitted() {
    let dir = tempfile::tempdir().unwrap();
    let url = store::testing::fresh_database(dir.path()).await.unwrap();
    let first = open(&url).await;
    let second = open(&url).await;
    // Two hosts of two vCPUs: each takes exactly one two-vCPU instance.
    first.fleet_seed(&fleet(2, 2)).await.unwrap();
    let principal = first.account_seed("acme", "ops", "ops@example.com", "stale-cache-token-0123456789").await.unwrap();

    let a = second.instance_create(&principal, create(Vec::new())).await.unwrap();
    let b = first.instance_create(&principal, create(Vec::new())).await.unwrap();
    assert_ne!(a.instance.host, b.instance.host);
    // The second process still believes the first host it did not use is empty.
    let refused = second.instance_create(&principal, create(Vec::new())).await.unwrap_err();
    assert!(refused.to_string().ends_with("0 of 2 hosts: 2 lack vCPUs"), "{refused}");
    let region = RegionId::parse("two-proc").unwrap();
    assert_eq!(second.region_check(&region).await.unwrap(), Vec::<String>::new());
    let used: u32 = first.hosts(&region).await.unwrap().iter().map(|h| h.used.vcpus).sum();
    assert_eq!(used, 4);
}
