//! What the benchmarks share: the shape of their region (10,000 hosts in 250 racks of 40,
//! 100,000 instances), a seeded generator, and the hosts and placed instances built with it.

#![allow(dead_code)] // Each benchmark uses a different part.

use placement::{Fleet, HostId, HostSpec, HostState, InstanceId, InstanceSpec, Resources};

pub const RACKS: usize = 250;
pub const HOSTS_PER_RACK: usize = 40;
pub const HOSTS: usize = RACKS * HOSTS_PER_RACK;
pub const INSTANCES: usize = 100_000;
pub const GIB: u64 = 1024;

/// A 64-bit linear congruential generator (Knuth's MMIX constants), returning its high bits.
#[derive(Debug)]
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// The rack of host number `host` (counting from 0).
pub fn host_rack(host: usize) -> usize {
    host / HOSTS_PER_RACK
}

/// A region's hosts and instances, each instance on a host with room for it.
#[derive(Debug)]
pub struct Placed {
    pub fleet: Fleet,
    /// By host number (host `n` has id `n + 1`; instance `n` likewise).
    pub capacities: Vec<Resources>,
    pub used: Vec<Resources>,
    /// By instance number.
    pub instance_host: Vec<usize>,
    pub instance_sizes: Vec<Resources>,
}

/// [`HOSTS`] hosts (mostly the standard model, some larger and some older, smaller ones; with
/// `gpus`, one in twenty has four GPUs), each in the state `state` gives for a number drawn
/// below 200, then [`INSTANCES`] instances of 1–8 vCPUs, each on a random host or the next one
/// with room, so that no host is overcommitted.
pub fn hosts_and_instances(random: &mut Lcg, gpus: bool, state: fn(usize) -> HostState) -> Placed {
    let mut fleet = Fleet::new();
    let mut capacities = Vec::with_capacity(HOSTS);
    for host in 0..HOSTS {
        let capacity = host_capacity(random, gpus);
        let state = state(random.below(200));
        let rack = format!("rack-{:03}", host_rack(host));
        fleet.host_add(HostSpec { id: HostId(host as i64 + 1), rack, capacity, state }).expect("a new host");
        capacities.push(capacity);
    }
    let mut used = vec![Resources::ZERO; HOSTS];
    let mut instance_host = Vec::with_capacity(INSTANCES);
    let mut instance_sizes = Vec::with_capacity(INSTANCES);
    for instance in 0..INSTANCES {
        let size = instance_size(random);
        let start = random.below(HOSTS);
        let host = (0..HOSTS)
            .map(|offset| (start + offset) % HOSTS)
            .find(|&host| size.fits_in(&capacities[host].saturating_sub(&used[host])))
            .expect("the fleet has room for every instance");
        used[host] = used[host].saturating_add(&size);
        let spec = InstanceSpec {
            id: InstanceId(instance as i64 + 1),
            size,
            host: Some(HostId(host as i64 + 1)),
            target: None,
        };
        fleet.instance_add(spec).expect("a new instance");
        instance_host.push(host);
        instance_sizes.push(size);
    }
    Placed { fleet, capacities, used, instance_host, instance_sizes }
}

fn host_capacity(random: &mut Lcg, gpus: bool) -> Resources {
    let (vcpus, memory_gib, disk_gib) = match random.below(10) {
        0 => (32, 128, 2_048),
        1 | 2 => (96, 384, 8_192),
        _ => (64, 256, 4_096),
    };
    let gpus = if gpus && random.below(20) == 0 { 4 } else { 0 };
    Resources { vcpus, memory_mib: memory_gib * GIB, disk_mib: disk_gib * GIB, gpus }
}

fn instance_size(random: &mut Lcg) -> Resources {
    let vcpus = [1, 2, 4, 8][random.below(4)];
    let memory_gib = (u64::from(vcpus) * [1, 2, 4][random.below(3)]).min(32);
    let disk_gib = [10, 20, 50, 100][random.below(4)];
    Resources { vcpus, memory_mib: memory_gib * GIB, disk_mib: disk_gib * GIB, gpus: 0 }
}
