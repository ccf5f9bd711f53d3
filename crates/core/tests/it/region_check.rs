//! `Berth::region_check` judges the region as stored at one instant: it reports real
//! inconsistency, and never a change that another request is committing while it reads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use berth_core::RegionId;

use crate::{REGION, create, fleet, open};

#[tokio::test]
async fn the_check_reports_a_host_whose_recorded_usage_its_instances_do_not_explain() {
    let dir = tempfile::tempdir().unwrap();
    let url = store::testing::fresh_database(dir.path()).await.unwrap();
    let berth = open(&url).await;
    berth.fleet_seed(&fleet(3, 16)).await.unwrap();
    let principal =
        berth.account_seed("acme", "ops", "ops@example.com", "region-check-token-0123456789").await.unwrap();
    let placed = berth.instance_create(&principal, create(Vec::new())).await.unwrap();
    let region = RegionId::parse(REGION).unwrap();
    assert_eq!(berth.region_check(&region).await.unwrap(), Vec::<String>::new());

    // Another hand on the database counts two more vCPUs as used on the instance's host, with
    // no instance to show for them.
    let host = placed.instance.host.expect("the instance was placed");
    let other = store::Store::open(&url).await.unwrap();
    let mut tx = other.write().await.unwrap();
    let extra = store::Size { vcpus: 2, memory_mib: 0, disk_mib: 0, gpus: 0 };
    assert!(tx.db().host_reserve(host.0, extra).await.unwrap());
    tx.commit().await.unwrap();
    other.close().await;

    let violations = berth.region_check(&region).await.unwrap();
    let name = &berth.hosts(&region).await.unwrap().into_iter().find(|h| h.id == host).unwrap().name;
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].starts_with(&format!("host {name} records usage")), "{violations:?}");
    assert!(violations[0].contains("vcpus: 4"), "the recorded usage is named: {violations:?}");
    assert!(violations[0].contains("but its instances use Resources { vcpus: 2"), "{violations:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_never_sees_a_change_half_committed() {
    let dir = tempfile::tempdir().unwrap();
    let url = store::testing::fresh_database(dir.path()).await.unwrap();
    let berth = Arc::new(open(&url).await);
    berth.fleet_seed(&fleet(4, 16)).await.unwrap();
    let principal =
        berth.account_seed("acme", "ops", "ops@example.com", "region-check-token-0123456789").await.unwrap();
    let region = RegionId::parse(REGION).unwrap();

    // Each create and each delete changes a host's usage and its instances in one commit; a
    // check that read them in two instants would see one without the other.
    let done = Arc::new(AtomicBool::new(false));
    let churn = {
        let (berth, done) = (berth.clone(), done.clone());
        tokio::spawn(async move {
            for _ in 0..60 {
                let placed = berth.instance_create(&principal, create(Vec::new())).await.unwrap();
                berth.instance_delete(&principal, placed.instance.id).await.unwrap();
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut checks = 0;
    while !done.load(Ordering::SeqCst) {
        assert_eq!(berth.region_check(&region).await.unwrap(), Vec::<String>::new(), "after {checks} checks");
        checks += 1;
    }
    churn.await.unwrap();
    assert!(checks > 0);
    assert_eq!(berth.region_check(&region).await.unwrap(), Vec::<String>::new());
}
