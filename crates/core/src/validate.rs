//! Validation of the domain's values: what a region id, a label, a plain name or a list of
//! scopes may be, and the error that names the field when one is not.

use std::collections::BTreeMap;

use crate::error::{Error, Field, Form, Problem};
use crate::model::{Label, Permission, RegionId, Scopes};

impl RegionId {
    /// A region id is 1–64 lower-case letters, digits and dashes. Whether the region exists is
    /// a separate question.
    pub fn parse(value: &str) -> Result<RegionId, Error> {
        let valid = !value.is_empty()
            && value.len() <= 64
            && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(RegionId(value.to_string()))
        } else {
            Err(Error::invalid(Field::Region, Problem::Malformed { form: Form::RegionId, value: None }))
        }
    }
}

impl Label {
    /// A label for `field`; the error names it.
    pub fn parse(field: Field, value: &str) -> Result<Label, Error> {
        if value.is_empty() || value.chars().count() > 255 {
            return Err(Error::invalid(field, Problem::Length { min: 1, max: 255 }));
        }
        if value.chars().any(char::is_control) {
            return Err(Error::invalid(field, Problem::ControlCharacters));
        }
        Ok(Label(value.to_string()))
    }
}

fn malformed(value: Option<String>) -> Problem {
    Problem::Malformed { form: Form::Scopes, value }
}

impl Scopes {
    /// Parses `*` or a space- or comma-separated list of `area:read_only` / `area:read_write`,
    /// where every area is one of `areas`.
    pub fn parse(text: &str, areas: &[&str]) -> Result<Scopes, Error> {
        let scopes = Scopes::read(text).map_err(|value| Error::invalid(Field::Scopes, malformed(value)))?;
        match scopes.areas.keys().find(|area| !areas.contains(&area.as_str())) {
            Some(area) => Err(Error::invalid(Field::Scopes, malformed(Some(area.clone())))),
            None => Ok(scopes),
        }
    }

    /// Reads scopes as they were stored, once parsed: any area goes.
    pub fn stored(text: &str) -> Result<Scopes, Error> {
        Scopes::read(text).map_err(|_| Error::Internal(format!("stored scopes {text:?} are malformed")))
    }

    /// Reads `*` or a list of `area:level`; the error is the scope at fault, if one is.
    fn read(text: &str) -> Result<Scopes, Option<String>> {
        let text = text.trim();
        if text == "*" {
            return Ok(Scopes::all());
        }
        let mut areas = BTreeMap::new();
        for scope in text.split([' ', ',']).filter(|s| !s.is_empty()) {
            let (area, level) = scope.split_once(':').ok_or_else(|| Some(scope.to_string()))?;
            let valid_area = !area.is_empty() && area.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            let level = Permission::parse(level).filter(|_| valid_area).ok_or_else(|| Some(scope.to_string()))?;
            let entry = areas.entry(area.to_string()).or_insert(level);
            *entry = (*entry).max(level);
        }
        if areas.is_empty() {
            return Err(None);
        }
        Ok(Scopes { all: false, areas })
    }
}

/// A plain name (of an account, a user, a rack, a host, a host label's key): 1–64 letters,
/// digits, `-`, `_` and `.`; `field` names it in the error.
pub(crate) fn plain_name(field: Field, value: &str) -> Result<String, Error> {
    let valid = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(value.to_string())
    } else {
        Err(Error::invalid(field, Problem::Malformed { form: Form::PlainName, value: None }))
    }
}
