//! Exoscale's wire shapes: request bodies, the objects berth returns, and their validation.

use std::collections::BTreeMap;

use crate::catalog::{ExoscaleType, Template};
use berth_core::{Field, GroupView, InstanceState, InstanceView, Label, Operation, Region, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ExoError;
use crate::time_format;

/// `{"id": ...}`; any other field of a reference is ignored (the exo CLI sends whole objects).
#[derive(Debug, Deserialize)]
pub(crate) struct Reference {
    pub(crate) id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct GroupCreateBody {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct InstanceCreateBody {
    pub(crate) name: Option<String>,
    pub(crate) instance_type: Option<Reference>,
    pub(crate) template: Option<Reference>,
    pub(crate) disk_size: Option<Value>,
    pub(crate) anti_affinity_groups: Option<Vec<Reference>>,
    pub(crate) labels: Option<BTreeMap<String, String>>,
    pub(crate) auto_start: Option<bool>,
    pub(crate) user_data: Option<String>,
    pub(crate) public_ip_assignment: Option<String>,
    pub(crate) security_groups: Option<Vec<Reference>>,
    // The fields below are parsed so that their types are checked, and otherwise ignored:
    // berth runs no network, keys or firmware.
    #[allow(dead_code)]
    pub(crate) ssh_key: Option<Value>,
    #[allow(dead_code)]
    pub(crate) ssh_keys: Option<Vec<Value>>,
    #[allow(dead_code)]
    pub(crate) ipv6_enabled: Option<bool>,
    #[allow(dead_code)]
    pub(crate) deploy_target: Option<Reference>,
    #[allow(dead_code)]
    pub(crate) secureboot_enabled: Option<bool>,
    #[allow(dead_code)]
    pub(crate) tpm_enabled: Option<bool>,
    #[allow(dead_code)]
    pub(crate) application_consistent_snapshot_enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct InstanceUpdateBody {
    pub(crate) name: Option<String>,
    pub(crate) labels: Option<BTreeMap<String, String>>,
    pub(crate) user_data: Option<String>,
    pub(crate) public_ip_assignment: Option<String>,
    /// Parsed so that its type is checked; berth takes no snapshots.
    #[allow(dead_code)]
    pub(crate) application_consistent_snapshot_enabled: Option<bool>,
}

/// An anti-affinity group's name: 1–255 characters.
pub(crate) fn group_name(name: Option<String>) -> Result<Label, ExoError> {
    let name = name.ok_or_else(|| ExoError::bad_request("Missing value for name"))?;
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ExoError::bad_request("Invalid value in name - should be between 1 and 255 characters"));
    }
    Label::parse(Field::Label, &name)
        .map_err(|_| ExoError::bad_request("Invalid value in name - no control characters"))
}

pub(crate) fn group_description(description: Option<String>) -> Result<String, ExoError> {
    let description = description.unwrap_or_default();
    if description.chars().count() > 255 || description.chars().any(char::is_control) {
        return Err(ExoError::bad_request(
            "Invalid value in description - should be at most 255 characters, without control characters",
        ));
    }
    Ok(description)
}

/// An instance's name is hostname-like: dot-separated labels of letters, digits and dashes,
/// each 1–63 characters and not starting or ending with a dash; 255 characters at most.
pub(crate) fn instance_name(name: &str) -> Result<Label, ExoError> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if name.is_empty() || name.len() > 255 || !name.split('.').all(label_ok) {
        return Err(ExoError::bad_request(
            "Invalid value in name - should be a valid hostname: letters, digits and dashes, in dot-separated \
             labels of at most 63 characters",
        ));
    }
    Label::parse(Field::Label, name).map_err(|_| ExoError::bad_request("Invalid value in name"))
}

/// The disk size in GiB: an integer between 10 and 51200.
pub(crate) fn disk_size(value: Option<Value>) -> Result<u64, ExoError> {
    let message = "Invalid value in disk-size (description: `Instance disk size in GiB`) - should be an Integer between \
                   10 51200";
    let size = value.as_ref().and_then(Value::as_u64).ok_or_else(|| ExoError::bad_request(message))?;
    if !(10..=51_200).contains(&size) {
        return Err(ExoError::bad_request(message));
    }
    Ok(size)
}

/// Labels: at most 64, keys of 1–63 characters of lower-case letters, digits, `-`, `_`, `.`
/// and `/`, values of at most 255 characters without control characters.
pub(crate) fn labels(labels: Option<BTreeMap<String, String>>) -> Result<BTreeMap<String, String>, ExoError> {
    let labels = labels.unwrap_or_default();
    if labels.len() > 64 {
        return Err(ExoError::bad_request("Invalid value in labels - at most 64 labels"));
    }
    for (key, value) in &labels {
        let key_ok = !key.is_empty()
            && key.len() <= 63
            && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_./".contains(&b));
        if !key_ok {
            return Err(ExoError::bad_request(format!(
                "Invalid value in labels - key {key:?} should be 1-63 characters of lower-case letters, digits, \
                 '-', '_', '.' and '/'"
            )));
        }
        if value.chars().count() > 255 || value.chars().any(char::is_control) {
            return Err(ExoError::bad_request(format!(
                "Invalid value in labels - the value of {key:?} should be at most 255 characters"
            )));
        }
    }
    Ok(labels)
}

/// `user-data`: base64, 1–32768 characters. berth keeps no user data; it only checks it.
pub(crate) fn user_data(value: Option<&str>) -> Result<(), ExoError> {
    use base64::Engine;
    if let Some(data) = value {
        let valid = !data.is_empty()
            && data.len() <= 32_768
            && base64::engine::general_purpose::STANDARD.decode(data.trim_end()).is_ok();
        if !valid {
            return Err(ExoError::bad_request("Invalid value in user-data - should be base64, 1-32768 characters"));
        }
    }
    Ok(())
}

pub(crate) fn public_ip_assignment(value: Option<&str>) -> Result<(), ExoError> {
    match value {
        None | Some("inet4" | "dual" | "none") => Ok(()),
        Some(_) => Err(ExoError::bad_request("Invalid value in public-ip-assignment - should be inet4, dual or none")),
    }
}

/// Whether the Exoscale dialect can show a group: anti-affinity groups span every zone, so it
/// shows only global ones.
pub(crate) fn shows_group(view: &GroupView) -> bool {
    view.group.scope == Scope::Global
}

/// `{"id": ...}`, as Exoscale names one object from another.
#[derive(Debug, Serialize)]
pub(crate) struct IdRef {
    id: String,
}

impl IdRef {
    fn new(id: impl Into<String>) -> IdRef {
        IdRef { id: id.into() }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Group {
    id: String,
    name: String,
    description: String,
    instances: Vec<IdRef>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Groups {
    #[serde(rename = "anti-affinity-groups")]
    pub(crate) anti_affinity_groups: Vec<Group>,
}

#[derive(Debug, Serialize)]
pub(crate) struct OperationBody {
    id: String,
    state: &'static str,
    message: String,
    reference: OperationReferenceBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct OperationReferenceBody {
    id: String,
    link: String,
    command: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Instance {
    id: String,
    name: String,
    state: &'static str,
    created_at: String,
    disk_size: u64,
    instance_type: IdRef,
    template: Option<IdRef>,
    public_ip: String,
    public_ip_assignment: &'static str,
    mac_address: String,
    labels: BTreeMap<String, String>,
    security_groups: [IdRef; 0],
    elastic_ips: [IdRef; 0],
    private_networks: [IdRef; 0],
    snapshots: [IdRef; 0],
    ssh_keys: [IdRef; 0],
    // The exo CLI's `instance show` reads both and fails without them.
    secureboot_enabled: bool,
    tpm_enabled: bool,
    /// Only `GET /instance/{id}` shows the instance's groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    anti_affinity_groups: Option<Vec<IdRef>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Instances {
    pub(crate) instances: Vec<Instance>,
}

#[derive(Debug, Serialize)]
pub(crate) struct InstanceType {
    id: &'static str,
    family: &'static str,
    size: &'static str,
    cpus: u32,
    gpus: u32,
    memory: u64,
    authorized: bool,
    zones: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct InstanceTypes {
    #[serde(rename = "instance-types")]
    pub(crate) instance_types: Vec<InstanceType>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct TemplateBody {
    id: &'static str,
    name: &'static str,
    description: &'static str,
    family: &'static str,
    visibility: &'static str,
    default_user: &'static str,
    boot_mode: &'static str,
    size: u64,
    version: &'static str,
    build: &'static str,
    created_at: &'static str,
    password_enabled: bool,
    ssh_key_enabled: bool,
    maintainer: &'static str,
    zones: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Templates {
    pub(crate) templates: Vec<TemplateBody>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct ZoneBody {
    name: String,
    api_endpoint: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Zones {
    pub(crate) zones: Vec<ZoneBody>,
}

/// Every error of the dialect.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    pub(crate) message: String,
}

pub(crate) fn group(view: &GroupView) -> Group {
    Group {
        id: view.group.uuid.clone(),
        name: view.group.label.as_str().to_string(),
        description: view.group.description.clone(),
        instances: view.members.iter().map(|m| IdRef::new(m.uuid.clone())).collect(),
    }
}

pub(crate) fn operation(operation: &Operation) -> OperationBody {
    OperationBody {
        id: operation.id.clone(),
        state: operation.state.as_str(),
        message: operation.message.clone(),
        reference: OperationReferenceBody {
            id: operation.reference.id.clone(),
            link: operation.reference.link.clone(),
            command: operation.reference.command.clone(),
        },
        reason: operation.reason.clone(),
    }
}

/// An instance; `full` adds what only `GET /instance/{id}` shows (its groups).
pub(crate) fn instance(view: &InstanceView, full: bool) -> Instance {
    let instance = &view.instance;
    let state = match (view.is_migrating(), instance.state) {
        // An instance whose host failed, waiting for another, is not running.
        _ if instance.is_offline() => "stopped",
        (true, _) => "migrating",
        (false, InstanceState::Running) => "running",
        (false, InstanceState::Stopped) => "stopped",
    };
    Instance {
        id: instance.uuid.clone(),
        name: instance.label.as_str().to_string(),
        state,
        created_at: time_format::rfc3339(instance.created_at),
        disk_size: instance.size.disk_mib / 1024,
        instance_type: IdRef::new(instance.type_id.clone()),
        template: instance.image.as_ref().map(|image| IdRef::new(image.clone())),
        public_ip: crate::instance_ipv4(instance.id.0),
        public_ip_assignment: "inet4",
        mac_address: crate::instance_mac(instance.id.0),
        labels: instance.labels.clone(),
        security_groups: [],
        elastic_ips: [],
        private_networks: [],
        snapshots: [],
        ssh_keys: [],
        secureboot_enabled: false,
        tpm_enabled: false,
        anti_affinity_groups: full.then(|| {
            view.groups.iter().filter(|g| g.scope == Scope::Global).map(|g| IdRef::new(g.uuid.clone())).collect()
        }),
    }
}

pub(crate) fn instance_type(t: &ExoscaleType, zones: &[String]) -> InstanceType {
    InstanceType {
        id: t.id,
        family: t.family,
        size: t.size,
        cpus: t.cpus,
        gpus: t.gpus,
        memory: t.memory_mib * 1024 * 1024,
        authorized: true,
        zones: zones.to_vec(),
    }
}

pub(crate) fn template(t: &Template, zones: &[String]) -> TemplateBody {
    TemplateBody {
        id: t.id,
        name: t.name,
        description: "",
        family: t.family,
        visibility: "public",
        default_user: t.default_user,
        boot_mode: t.boot_mode,
        size: t.size,
        version: t.version,
        build: "",
        created_at: t.created,
        password_enabled: true,
        ssh_key_enabled: true,
        maintainer: "berth",
        zones: zones.to_vec(),
    }
}

/// A zone and its endpoint on this berth. `sos-endpoint` is left out: berth serves no object
/// storage, and the real one would lead clients away from it.
pub(crate) fn zone(region: &Region, base_url: &str) -> ZoneBody {
    ZoneBody { name: region.id.to_string(), api_endpoint: format!("{base_url}/{}/v2", region.id) }
}
