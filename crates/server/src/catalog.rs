//! The product catalogs of the dialects: the instance types each sells and the images (Linode)
//! or templates (Exoscale) it boots, with what each type needs of a host in domain terms.
//!
//! A catalog is product definition, the same for every region and account, so it lives in
//! code rather than in the store: a release changes it, not an API call. Core never sees it:
//! a dialect turns the type a request names into the instance's size before it calls core.
//! `/v1` accepts the types of both.

use berth_core::Resources;

/// A plan: what an instance of this type gets, and what it costs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InstanceType {
    pub id: &'static str,
    pub label: &'static str,
    /// `nanode`, `standard`, `dedicated`, `highmem` or `gpu`.
    pub class: &'static str,
    pub size: Resources,
    /// Monthly outbound transfer in GB.
    pub transfer: u32,
    /// Outbound bandwidth in Mbit/s.
    pub network_out: u32,
    pub price_hourly: f64,
    pub price_monthly: f64,
}

const GIB: u64 = 1024;

const fn size(vcpus: u32, memory_gib: u64, disk_gib: u64, gpus: u32) -> Resources {
    Resources { vcpus, memory_mib: memory_gib * GIB, disk_mib: disk_gib * GIB, gpus }
}

/// Every instance type, smallest first.
pub const INSTANCE_TYPES: &[InstanceType] = &[
    InstanceType {
        id: "g6-nanode-1",
        label: "Nanode 1GB",
        class: "nanode",
        size: size(1, 1, 25, 0),
        transfer: 1000,
        network_out: 1000,
        price_hourly: 0.0075,
        price_monthly: 5.0,
    },
    InstanceType {
        id: "g6-standard-1",
        label: "Linode 2GB",
        class: "standard",
        size: size(1, 2, 50, 0),
        transfer: 2000,
        network_out: 2000,
        price_hourly: 0.018,
        price_monthly: 12.0,
    },
    InstanceType {
        id: "g6-standard-2",
        label: "Linode 4GB",
        class: "standard",
        size: size(2, 4, 80, 0),
        transfer: 4000,
        network_out: 4000,
        price_hourly: 0.036,
        price_monthly: 24.0,
    },
    InstanceType {
        id: "g6-standard-4",
        label: "Linode 8GB",
        class: "standard",
        size: size(4, 8, 160, 0),
        transfer: 5000,
        network_out: 5000,
        price_hourly: 0.072,
        price_monthly: 48.0,
    },
    InstanceType {
        id: "g6-standard-6",
        label: "Linode 16GB",
        class: "standard",
        size: size(6, 16, 320, 0),
        transfer: 8000,
        network_out: 6000,
        price_hourly: 0.144,
        price_monthly: 96.0,
    },
    InstanceType {
        id: "g6-standard-8",
        label: "Linode 32GB",
        class: "standard",
        size: size(8, 32, 640, 0),
        transfer: 16000,
        network_out: 7000,
        price_hourly: 0.288,
        price_monthly: 192.0,
    },
    InstanceType {
        id: "g6-dedicated-2",
        label: "Dedicated 4GB",
        class: "dedicated",
        size: size(2, 4, 80, 0),
        transfer: 4000,
        network_out: 4000,
        price_hourly: 0.054,
        price_monthly: 36.0,
    },
    InstanceType {
        id: "g6-dedicated-4",
        label: "Dedicated 8GB",
        class: "dedicated",
        size: size(4, 8, 160, 0),
        transfer: 5000,
        network_out: 5000,
        price_hourly: 0.108,
        price_monthly: 72.0,
    },
    InstanceType {
        id: "g6-dedicated-16",
        label: "Dedicated 64GB",
        class: "dedicated",
        size: size(16, 64, 1280, 0),
        transfer: 9000,
        network_out: 10000,
        price_hourly: 0.864,
        price_monthly: 576.0,
    },
    InstanceType {
        id: "g7-highmem-2",
        label: "Linode 48GB",
        class: "highmem",
        size: size(2, 48, 40, 0),
        transfer: 6000,
        network_out: 9000,
        price_hourly: 0.18,
        price_monthly: 120.0,
    },
    InstanceType {
        id: "g1-gpu-rtx6000-1",
        label: "Dedicated 32GB + RTX6000 GPU x1",
        class: "gpu",
        size: size(8, 32, 640, 1),
        transfer: 16000,
        network_out: 10000,
        price_hourly: 1.5,
        price_monthly: 1000.0,
    },
];

pub fn instance_type(id: &str) -> Option<&'static InstanceType> {
    INSTANCE_TYPES.iter().find(|t| t.id == id)
}

/// A bootable image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Image {
    pub id: &'static str,
    pub label: &'static str,
    pub vendor: &'static str,
    /// Size in MB.
    pub size: u32,
    pub created: &'static str,
}

/// The public images; every account can boot them.
pub const PUBLIC_IMAGES: &[Image] = &[
    Image {
        id: "linode/alpine3.20",
        label: "Alpine 3.20",
        vendor: "Alpine",
        size: 300,
        created: "2024-05-22T00:00:00",
    },
    Image {
        id: "linode/almalinux9",
        label: "AlmaLinux 9",
        vendor: "AlmaLinux",
        size: 2000,
        created: "2022-05-26T00:00:00",
    },
    Image { id: "linode/debian11", label: "Debian 11", vendor: "Debian", size: 1300, created: "2021-08-14T00:00:00" },
    Image { id: "linode/debian12", label: "Debian 12", vendor: "Debian", size: 1500, created: "2023-06-10T00:00:00" },
    Image {
        id: "linode/ubuntu22.04",
        label: "Ubuntu 22.04 LTS",
        vendor: "Ubuntu",
        size: 2500,
        created: "2022-04-21T00:00:00",
    },
    Image {
        id: "linode/ubuntu24.04",
        label: "Ubuntu 24.04 LTS",
        vendor: "Ubuntu",
        size: 2500,
        created: "2024-04-25T00:00:00",
    },
];

pub fn image(id: &str) -> Option<&'static Image> {
    PUBLIC_IMAGES.iter().find(|i| i.id == id)
}

/// An Exoscale instance type. Its disk is chosen per instance (`disk-size`), not by the type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExoscaleType {
    pub id: &'static str,
    pub family: &'static str,
    pub size: &'static str,
    pub cpus: u32,
    pub gpus: u32,
    pub memory_mib: u64,
}

const fn exoscale(
    id: &'static str,
    family: &'static str,
    size: &'static str,
    cpus: u32,
    memory_mib: u64,
    gpus: u32,
) -> ExoscaleType {
    ExoscaleType { id, family, size, cpus, gpus, memory_mib }
}

/// The Exoscale instance types, smallest first in each family.
pub const EXOSCALE_TYPES: &[ExoscaleType] = &[
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-000000000001", "standard", "micro", 1, 512, 0),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-000000000002", "standard", "tiny", 1, 1024, 0),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-000000000003", "standard", "small", 2, 2 * 1024, 0),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-000000000004", "standard", "medium", 2, 4 * 1024, 0),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-000000000005", "standard", "large", 4, 8 * 1024, 0),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-000000000006", "standard", "extra-large", 4, 16 * 1024, 0),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-000000000007", "standard", "huge", 8, 32 * 1024, 0),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-000000000008", "standard", "mega", 12, 64 * 1024, 0),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-000000000009", "standard", "titan", 16, 128 * 1024, 0),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-00000000000a", "cpu", "extra-large", 16, 32 * 1024, 0),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-00000000000b", "memory", "extra-large", 4, 64 * 1024, 0),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-00000000000c", "gpu2", "medium", 12, 56 * 1024, 1),
    exoscale("b6d8a4e5-8f7e-4a1d-9b5e-00000000000d", "gpu2", "large", 24, 112 * 1024, 2),
];

pub fn exoscale_type(id: &str) -> Option<&'static ExoscaleType> {
    EXOSCALE_TYPES.iter().find(|t| t.id.eq_ignore_ascii_case(id))
}

/// An Exoscale template: what an instance boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    pub id: &'static str,
    pub name: &'static str,
    pub family: &'static str,
    pub default_user: &'static str,
    pub boot_mode: &'static str,
    /// Size in bytes.
    pub size: u64,
    pub version: &'static str,
    pub created: &'static str,
}

const GB: u64 = 1024 * 1024 * 1024;

/// The public templates.
pub const TEMPLATES: &[Template] = &[
    Template {
        id: "6f3bc1a0-4c1f-4b7e-8d2a-000000000001",
        name: "Linux Ubuntu 24.04 LTS 64-bit",
        family: "ubuntu",
        default_user: "ubuntu",
        boot_mode: "uefi",
        size: 10 * GB,
        version: "24.04",
        created: "2024-04-26T09:00:00Z",
    },
    Template {
        id: "6f3bc1a0-4c1f-4b7e-8d2a-000000000002",
        name: "Linux Ubuntu 22.04 LTS 64-bit",
        family: "ubuntu",
        default_user: "ubuntu",
        boot_mode: "legacy",
        size: 10 * GB,
        version: "22.04",
        created: "2022-04-22T09:00:00Z",
    },
    Template {
        id: "6f3bc1a0-4c1f-4b7e-8d2a-000000000003",
        name: "Linux Debian 12 (Bookworm) 64-bit",
        family: "debian",
        default_user: "debian",
        boot_mode: "legacy",
        size: 10 * GB,
        version: "12",
        created: "2023-06-12T09:00:00Z",
    },
    Template {
        id: "6f3bc1a0-4c1f-4b7e-8d2a-000000000004",
        name: "Linux Rocky Linux 9 64-bit",
        family: "rockylinux",
        default_user: "rocky",
        boot_mode: "legacy",
        size: 10 * GB,
        version: "9",
        created: "2022-07-20T09:00:00Z",
    },
];

pub fn template(id: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.id.eq_ignore_ascii_case(id))
}

/// What an instance of `type_id` (a Linode type or an Exoscale type) needs, and whether its
/// disk comes with the type (`true`) or must be chosen per instance (`false`).
pub fn type_size(type_id: &str) -> Option<(Resources, bool)> {
    if let Some(linode) = instance_type(type_id) {
        return Some((linode.size, true));
    }
    exoscale_type(type_id)
        .map(|t| (Resources { vcpus: t.cpus, memory_mib: t.memory_mib, disk_mib: 0, gpus: t.gpus }, false))
}

/// Whether an instance can boot `id`: a Linode image or an Exoscale template.
pub fn bootable(id: &str) -> bool {
    image(id).is_some() || template(id).is_some()
}
