//! Linode's wire shapes: the JSON bodies clients send and the objects berth returns, and the
//! conversions between them and the domain.

use crate::catalog::{Image, InstanceType};
use std::collections::BTreeMap;

use berth_core::{
    Field, Firewall, GroupKind, GroupView, Instance, InstanceState, InstanceView, Label, Policy, Principal, Region,
    Scope,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::LinodeError;
use crate::time_format;

/// Fields of a placement group that `X-Filter` may name.
pub(crate) const GROUP_FILTER_FIELDS: &[&str] =
    &["id", "label", "region", "placement_group_type", "placement_group_policy", "is_compliant"];
pub(crate) const INSTANCE_FILTER_FIELDS: &[&str] =
    &["id", "label", "region", "type", "image", "status", "tags", "group", "host_uuid", "placement_group.id"];
pub(crate) const REGION_FILTER_FIELDS: &[&str] = &["id", "label", "country", "site_type", "status", "capabilities"];
pub(crate) const TYPE_FILTER_FIELDS: &[&str] =
    &["id", "label", "class", "vcpus", "memory", "disk", "gpus", "transfer", "network_out"];
pub(crate) const IMAGE_FILTER_FIELDS: &[&str] =
    &["id", "label", "vendor", "is_public", "deprecated", "status", "type", "created_by", "size"];
pub(crate) const FIREWALL_FILTER_FIELDS: &[&str] = &["id", "label", "status", "tags"];
pub(crate) const AVAILABILITY_FILTER_FIELDS: &[&str] = &["region"];

// Requests.

#[derive(Debug, Deserialize)]
pub(crate) struct GroupCreateBody {
    pub(crate) label: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) placement_group_type: Option<String>,
    pub(crate) placement_group_policy: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct GroupUpdateBody {
    pub(crate) label: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AssignBody {
    pub(crate) linodes: Option<Vec<i64>>,
    #[serde(default)]
    pub(crate) compliant_only: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PlacementGroupInput {
    pub(crate) id: Option<i64>,
    #[serde(default)]
    pub(crate) compliant_only: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct InstanceCreateBody {
    #[serde(rename = "type")]
    pub(crate) type_id: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) label: Option<String>,
    pub(crate) image: Option<String>,
    pub(crate) root_pass: Option<String>,
    pub(crate) authorized_keys: Option<Vec<String>>,
    pub(crate) authorized_users: Option<Vec<String>>,
    pub(crate) booted: Option<bool>,
    pub(crate) firewall_id: Option<i64>,
    pub(crate) placement_group: Option<PlacementGroupInput>,
    pub(crate) tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct InstanceUpdateBody {
    pub(crate) label: Option<String>,
    pub(crate) tags: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MigrateBody {
    pub(crate) region: Option<String>,
    #[serde(rename = "type")]
    pub(crate) migration_type: Option<String>,
    pub(crate) placement_group: Option<PlacementGroupInput>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FirewallCreateBody {
    pub(crate) label: Option<String>,
    pub(crate) rules: Option<Value>,
    pub(crate) tags: Option<Vec<String>>,
    pub(crate) status: Option<String>,
}

/// `field` must be present.
pub(crate) fn required<T>(value: Option<T>, field: &str) -> Result<T, LinodeError> {
    value.ok_or_else(|| LinodeError::bad_request(format!("{field} is required"), field))
}

fn label_charset_ok(label: &str) -> bool {
    let bytes = label.as_bytes();
    let edge = |b: &u8| b.is_ascii_alphanumeric();
    bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
}

/// A placement group's label: 1–64 characters of letters, digits, `-`, `_` and `.`, starting
/// and ending with a letter or digit.
pub(crate) fn group_label(label: &str) -> Result<Label, LinodeError> {
    if label.is_empty() || label.len() > 64 {
        return Err(LinodeError::bad_request("Label must be between 1 and 64 characters", "label"));
    }
    if !label_charset_ok(label) {
        return Err(LinodeError::bad_request(
            "Label must start and end with a letter or number and may only contain letters, numbers, dashes, \
             underscores, and periods",
            "label",
        ));
    }
    Ok(Label::parse(Field::Label, label)?)
}

/// A Linode's label: 3–64 characters of letters, digits, `-`, `_` and `.`, starting and ending
/// with a letter or digit, with no two of `-`, `_` or `.` in a row.
pub(crate) fn linode_label(label: &str) -> Result<Label, LinodeError> {
    if label.len() < 3 || label.len() > 64 {
        return Err(LinodeError::bad_request("Label must be between 3 and 64 characters", "label"));
    }
    let doubled = ["--", "__", ".."].iter().any(|pair| label.contains(pair));
    if !label_charset_ok(label) || doubled {
        return Err(LinodeError::bad_request(
            "Label must start and end with a letter or number, may only contain letters, numbers, dashes, \
             underscores, and periods, and cannot have two dashes, underscores, or periods in a row",
            "label",
        ));
    }
    Ok(Label::parse(Field::Label, label)?)
}

/// A firewall's label: 3–32 characters of letters, digits, `-`, `_` and `.`.
pub(crate) fn firewall_label(label: &str) -> Result<Label, LinodeError> {
    if label.len() < 3 || label.len() > 32 || !label_charset_ok(label) {
        return Err(LinodeError::bad_request(
            "Label must be 3-32 characters, start and end with a letter or number, and contain only letters, \
             numbers, dashes, underscores, and periods",
            "label",
        ));
    }
    Ok(Label::parse(Field::Label, label)?)
}

/// Tags: each 1–50 characters, without control characters.
pub(crate) fn tags(tags: Option<Vec<String>>) -> Result<Vec<String>, LinodeError> {
    let tags = tags.unwrap_or_default();
    for tag in &tags {
        if tag.is_empty() || tag.chars().count() > 50 || tag.chars().any(char::is_control) {
            return Err(LinodeError::bad_request("Tags must be 1-50 characters without control characters", "tags"));
        }
    }
    Ok(tags)
}

pub(crate) fn group_type(value: &str) -> Result<GroupKind, LinodeError> {
    match value {
        "anti_affinity:local" => Ok(GroupKind::AntiAffinity),
        "affinity:local" => Ok(GroupKind::Affinity),
        _ => Err(LinodeError::bad_request(
            "placement_group_type must be anti_affinity:local or affinity:local",
            "placement_group_type",
        )),
    }
}

pub(crate) fn group_policy(value: &str) -> Result<Policy, LinodeError> {
    match value {
        "strict" => Ok(Policy::Strict),
        "flexible" => Ok(Policy::Flexible),
        _ => {
            Err(LinodeError::bad_request("placement_group_policy must be strict or flexible", "placement_group_policy"))
        }
    }
}

fn type_str(kind: GroupKind) -> &'static str {
    match kind {
        GroupKind::AntiAffinity => "anti_affinity:local",
        GroupKind::Affinity => "affinity:local",
    }
}

fn policy_str(policy: Policy) -> &'static str {
    match policy {
        Policy::Strict => "strict",
        Policy::Flexible => "flexible",
    }
}

// Responses.

#[derive(Debug, Serialize)]
pub(crate) struct PlacementGroup {
    id: i64,
    label: String,
    region: String,
    placement_group_type: &'static str,
    placement_group_policy: &'static str,
    is_compliant: bool,
    members: Vec<PlacementGroupMember>,
    migrations: Option<Migrations>,
}

#[derive(Debug, Serialize)]
struct PlacementGroupMember {
    linode_id: i64,
    is_compliant: bool,
}

#[derive(Debug, Serialize)]
struct Migrations {
    #[serde(skip_serializing_if = "Option::is_none")]
    inbound: Option<Vec<MigratedLinode>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outbound: Option<Vec<MigratedLinode>>,
}

#[derive(Debug, Serialize)]
struct MigratedLinode {
    linode_id: i64,
}

/// Whether the Linode dialect can show a group: it knows only regional groups.
pub(crate) fn shows_group(view: &GroupView) -> bool {
    matches!(view.group.scope, Scope::Region(_))
}

pub(crate) fn placement_group(view: &GroupView) -> PlacementGroup {
    let region = match &view.group.scope {
        Scope::Region(region) => region.to_string(),
        Scope::Global => String::new(),
    };
    let migrated = |ids: &[berth_core::InstanceId]| {
        (!ids.is_empty()).then(|| ids.iter().map(|id| MigratedLinode { linode_id: id.0 }).collect())
    };
    let migrations = Migrations { inbound: migrated(&view.inbound), outbound: migrated(&view.outbound) };
    PlacementGroup {
        id: view.group.id.0,
        label: view.group.label.to_string(),
        region,
        placement_group_type: type_str(view.group.kind),
        placement_group_policy: policy_str(view.group.policy),
        is_compliant: view.is_compliant,
        members: view
            .members
            .iter()
            .map(|m| PlacementGroupMember { linode_id: m.instance.0, is_compliant: m.is_compliant })
            .collect(),
        migrations: (migrations.inbound.is_some() || migrations.outbound.is_some()).then_some(migrations),
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Linode {
    id: i64,
    label: String,
    region: String,
    #[serde(rename = "type")]
    type_id: String,
    image: Option<String>,
    status: &'static str,
    ipv4: Vec<String>,
    ipv6: String,
    created: String,
    updated: String,
    specs: Specs,
    alerts: Alerts,
    backups: Backups,
    hypervisor: &'static str,
    watchdog_enabled: bool,
    tags: Vec<String>,
    host_uuid: Option<String>,
    has_user_data: bool,
    disk_encryption: &'static str,
    lke_cluster_id: Option<i64>,
    group: &'static str,
    capabilities: Vec<String>,
    site_type: &'static str,
    interface_generation: &'static str,
    placement_group: Option<PlacementGroupRef>,
}

#[derive(Debug, Serialize)]
struct Specs {
    disk: u64,
    memory: u64,
    vcpus: u32,
    gpus: u32,
    transfer: u32,
}

#[derive(Debug, Serialize)]
struct Alerts {
    cpu: u32,
    network_in: u32,
    network_out: u32,
    transfer_quota: u32,
    io: u32,
}

#[derive(Debug, Serialize)]
struct Backups {
    enabled: bool,
    available: bool,
    schedule: Schedule,
    last_successful: Option<String>,
}

#[derive(Debug, Serialize)]
struct Schedule {
    day: Option<String>,
    window: Option<String>,
}

#[derive(Debug, Serialize)]
struct PlacementGroupRef {
    id: i64,
    label: String,
    placement_group_type: &'static str,
    placement_group_policy: &'static str,
    migrating_to: Option<i64>,
}

pub(crate) fn linode(view: &InstanceView) -> Linode {
    let instance = &view.instance;
    let id = instance.id.0;
    let transfer = crate::catalog::instance_type(&instance.type_id).map_or(0, |t| t.transfer);
    let regional: Vec<_> = view.groups.iter().filter(|g| matches!(g.scope, Scope::Region(_))).collect();
    // During a move into another group the Linode still shows the group it leaves, with the
    // target in `migrating_to`; a Linode that had none shows the target.
    let migrating_to = view.migration.as_ref().and_then(|m| m.target_group).map(|g| g.0);
    let shown = match view.migration.as_ref().and_then(|m| m.source_group) {
        Some(source) => regional.iter().find(|g| g.id == source).copied(),
        None => regional.first().copied(),
    };
    Linode {
        id,
        label: instance.label.to_string(),
        region: instance.region.to_string(),
        type_id: instance.type_id.clone(),
        image: instance.image.clone(),
        status: match (view.is_migrating(), instance.state) {
            _ if instance.is_offline() => "offline",
            (true, _) => "migrating",
            (false, InstanceState::Running) => "running",
            (false, InstanceState::Stopped) => "offline",
        },
        // The IPv6 address comes from the documentation range of RFC 3849.
        ipv4: vec![crate::instance_ipv4(id)],
        ipv6: format!("2001:db8::{:x}/128", id),
        created: time_format::linode(instance.created_at),
        updated: time_format::linode(instance.updated_at),
        specs: Specs {
            disk: instance.size.disk_mib,
            memory: instance.size.memory_mib,
            vcpus: instance.size.vcpus,
            gpus: instance.size.gpus,
            transfer,
        },
        alerts: Alerts { cpu: 90, network_in: 10, network_out: 10, transfer_quota: 80, io: 10_000 },
        backups: Backups {
            enabled: false,
            available: false,
            schedule: Schedule { day: None, window: None },
            last_successful: None,
        },
        hypervisor: "kvm",
        watchdog_enabled: true,
        tags: instance.tags.clone(),
        host_uuid: view.host_uuid.clone(),
        has_user_data: false,
        disk_encryption: "disabled",
        lke_cluster_id: None,
        group: "",
        capabilities: Vec::new(),
        site_type: "core",
        interface_generation: "legacy_config",
        placement_group: shown.map(|group| PlacementGroupRef {
            id: group.id.0,
            label: group.label.to_string(),
            placement_group_type: type_str(group.kind),
            placement_group_policy: policy_str(group.policy),
            migrating_to,
        }),
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct RegionObject {
    id: String,
    label: String,
    country: String,
    capabilities: Vec<&'static str>,
    status: String,
    resolvers: Resolvers,
    site_type: String,
    placement_group_limits: GroupLimits,
}

#[derive(Debug, Serialize)]
struct Resolvers {
    ipv4: &'static str,
    ipv6: &'static str,
}

#[derive(Debug, Serialize)]
struct GroupLimits {
    maximum_pgs_per_customer: Option<u32>,
    maximum_linodes_per_pg: u32,
    maximum_linodes_per_flexible_pg: u32,
}

pub(crate) fn region(region: &Region) -> RegionObject {
    RegionObject {
        id: region.id.to_string(),
        label: region.label.clone(),
        country: region.country.clone(),
        capabilities: vec!["Linodes", "Cloud Firewall", "Placement Group", "Vlans"],
        status: region.status.clone(),
        resolvers: Resolvers { ipv4: "192.0.2.53,198.51.100.53", ipv6: "2001:db8::53" },
        site_type: region.site_type.clone(),
        placement_group_limits: GroupLimits {
            maximum_pgs_per_customer: region.max_groups_per_account,
            maximum_linodes_per_pg: region.max_members_per_group,
            maximum_linodes_per_flexible_pg: region.max_members_per_group,
        },
    }
}

/// A plan, as `GET /linode/types` shows it.
#[derive(Debug, Serialize)]
pub(crate) struct LinodeType {
    id: &'static str,
    label: &'static str,
    class: &'static str,
    disk: u64,
    memory: u64,
    vcpus: u32,
    gpus: u32,
    transfer: u32,
    network_out: u32,
    price: Price,
    addons: Addons,
    region_prices: [Price; 0],
    successor: Option<String>,
    accelerated_devices: u32,
}

#[derive(Debug, Serialize)]
struct Price {
    hourly: f64,
    monthly: f64,
}

#[derive(Debug, Serialize)]
struct Addons {
    backups: BackupsAddon,
}

#[derive(Debug, Serialize)]
struct BackupsAddon {
    price: Price,
    region_prices: [Price; 0],
}

pub(crate) fn linode_type(t: &InstanceType) -> LinodeType {
    LinodeType {
        id: t.id,
        label: t.label,
        class: t.class,
        disk: t.size.disk_mib,
        memory: t.size.memory_mib,
        vcpus: t.size.vcpus,
        gpus: t.size.gpus,
        transfer: t.transfer,
        network_out: t.network_out,
        price: Price { hourly: t.price_hourly, monthly: t.price_monthly },
        addons: Addons {
            backups: BackupsAddon {
                price: Price { hourly: t.price_hourly / 4.0, monthly: t.price_monthly / 4.0 },
                region_prices: [],
            },
        },
        region_prices: [],
        successor: None,
        accelerated_devices: 0,
    }
}

/// An image, as `GET /images` shows it.
#[derive(Debug, Serialize)]
pub(crate) struct ImageObject {
    id: &'static str,
    label: &'static str,
    description: &'static str,
    vendor: &'static str,
    is_public: bool,
    status: &'static str,
    size: u32,
    total_size: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    deprecated: bool,
    created: &'static str,
    updated: &'static str,
    created_by: &'static str,
    capabilities: [&'static str; 1],
    tags: [String; 0],
    expiry: Option<String>,
    eol: Option<String>,
    regions: [String; 0],
}

pub(crate) fn image(image: &Image) -> ImageObject {
    ImageObject {
        id: image.id,
        label: image.label,
        description: "",
        vendor: image.vendor,
        is_public: true,
        status: "available",
        size: image.size,
        total_size: image.size,
        kind: "manual",
        deprecated: false,
        created: image.created,
        updated: image.created,
        created_by: "linode",
        capabilities: ["cloud-init"],
        tags: [],
        expiry: None,
        eol: None,
        regions: [],
    }
}

/// A firewall, as `/networking/firewalls` shows it. Its rules are the document the client
/// gave, kept as it was.
#[derive(Debug, Serialize)]
pub(crate) struct FirewallObject {
    id: i64,
    label: String,
    status: String,
    rules: Value,
    tags: Vec<String>,
    created: String,
    updated: String,
    entities: Vec<DeviceEntity>,
}

/// An instance a firewall protects.
#[derive(Debug, Serialize)]
pub(crate) struct DeviceEntity {
    id: i64,
    label: String,
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

pub(crate) fn firewall(firewall: &Firewall, devices: &[Instance]) -> FirewallObject {
    let rules: Value = serde_json::from_str(&firewall.rules).unwrap_or_else(|_| Value::Object(Default::default()));
    FirewallObject {
        id: firewall.id.0,
        label: firewall.label.to_string(),
        status: firewall.status.clone(),
        rules,
        tags: firewall.tags.clone(),
        created: time_format::linode(firewall.created_at),
        updated: time_format::linode(firewall.updated_at),
        entities: self::devices(devices),
    }
}

/// The instances a firewall protects, as entities.
pub(crate) fn devices(devices: &[Instance]) -> Vec<DeviceEntity> {
    devices
        .iter()
        .map(|instance| DeviceEntity {
            id: instance.id.0,
            label: instance.label.to_string(),
            kind: "linode",
            url: format!("/v4/linode/instances/{}", instance.id.0),
        })
        .collect()
}

/// What each region offers an account (`GET /account/availability`).
#[derive(Debug, Serialize)]
pub(crate) struct Availability {
    region: String,
    available: [&'static str; 3],
    unavailable: [&'static str; 0],
}

pub(crate) fn availability(region: &Region) -> Availability {
    Availability {
        region: region.id.to_string(),
        available: ["Linodes", "Cloud Firewall", "Placement Group"],
        unavailable: [],
    }
}

/// The empty object a change with nothing to show answers with.
#[derive(Debug, Serialize)]
pub(crate) struct Empty {}

/// `GET /profile`.
#[derive(Debug, Serialize)]
pub(crate) struct Profile {
    uid: i64,
    username: String,
    email: String,
    restricted: bool,
    timezone: &'static str,
    email_notifications: bool,
    ip_whitelist_enabled: bool,
    lish_auth_method: &'static str,
    authorized_keys: [String; 0],
    two_factor_auth: bool,
    authentication_type: &'static str,
    verified_phone_number: Option<String>,
    referrals: Referrals,
}

#[derive(Debug, Default, Serialize)]
struct Referrals {
    code: &'static str,
    url: &'static str,
    total: u32,
    completed: u32,
    pending: u32,
    credit: u32,
}

pub(crate) fn profile(principal: &Principal) -> Profile {
    Profile {
        uid: principal.user.0,
        username: principal.username.clone(),
        email: principal.email.clone(),
        restricted: principal.restricted,
        timezone: "UTC",
        email_notifications: true,
        ip_whitelist_enabled: false,
        lish_auth_method: "keys_only",
        authorized_keys: [],
        two_factor_auth: false,
        authentication_type: "password",
        verified_phone_number: None,
        referrals: Referrals::default(),
    }
}

/// `GET /account`.
#[derive(Debug, Serialize)]
pub(crate) struct Account {
    euuid: String,
    company: &'static str,
    email: String,
    first_name: String,
    last_name: &'static str,
    balance: u32,
    balance_uninvoiced: u32,
    active_since: &'static str,
    capabilities: [&'static str; 3],
    country: &'static str,
    address_1: &'static str,
    address_2: &'static str,
    city: &'static str,
    state: &'static str,
    zip: &'static str,
    phone: &'static str,
    tax_id: &'static str,
    credit_card: CreditCard,
}

#[derive(Debug, Serialize)]
struct CreditCard {
    last_four: Option<String>,
    expiry: Option<String>,
}

pub(crate) fn account(principal: &Principal) -> Account {
    Account {
        euuid: format!("00000000-0000-0000-0000-{:012x}", principal.account.0),
        company: "",
        email: principal.email.clone(),
        first_name: principal.username.clone(),
        last_name: "",
        balance: 0,
        balance_uninvoiced: 0,
        active_since: "2024-01-01T00:00:00",
        capabilities: ["Linodes", "Cloud Firewall", "Placement Group"],
        country: "US",
        address_1: "",
        address_2: "",
        city: "",
        state: "",
        zip: "",
        phone: "",
        tax_id: "",
        credit_card: CreditCard { last_four: None, expiry: None },
    }
}

/// `GET /profile/grants` of a restricted user: every global grant, and every resource of the
/// account with the permission held on it (`null` for none). Kinds of resource berth does not
/// keep are listed empty.
#[derive(Debug, Serialize)]
pub(crate) struct GrantsView {
    pub(crate) global: BTreeMap<&'static str, Value>,
    pub(crate) linode: Vec<EntityGrant>,
    pub(crate) placement_group: Vec<EntityGrant>,
    pub(crate) firewall: Vec<EntityGrant>,
    pub(crate) database: [EntityGrant; 0],
    pub(crate) domain: [EntityGrant; 0],
    pub(crate) image: [EntityGrant; 0],
    pub(crate) longview: [EntityGrant; 0],
    pub(crate) nodebalancer: [EntityGrant; 0],
    pub(crate) stackscript: [EntityGrant; 0],
    pub(crate) volume: [EntityGrant; 0],
    pub(crate) vpc: [EntityGrant; 0],
}

#[derive(Debug, Serialize)]
pub(crate) struct EntityGrant {
    pub(crate) id: i64,
    pub(crate) label: String,
    pub(crate) permissions: Option<&'static str>,
}

pub(crate) fn to_value<T: Serialize>(value: T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}
