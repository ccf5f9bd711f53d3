//! Parses the Linode API v4 `X-Filter` header and applies it to the JSON objects of a list response.
//!
//! The dialect, as the real API and its clients use it:
//!
//! - The header is a JSON object; its keys are ANDed. `{"field": value}` means equality.
//! - `{"field": {"+eq"|"+neq"|"+gt"|"+gte"|"+lt"|"+lte"|"+contains"|"+or": operand}}` applies operators;
//!   several operators in one object are ANDed.
//! - `+and` and `+or` take arrays of filter objects and nest arbitrarily.
//! - `+order_by`, `+order` and `+limit` are not conditions. They are lifted out of whichever filter object
//!   holds them, because the Python SDK nests them inside a `+and` element.
//! - Field names use dot notation for nested objects (`"resource.type"`).
//!
//! Choices this module makes where the reference is silent:
//!
//! - Logic is plain Boolean logic: a filter object without conditions (`{}`, or one holding only order
//!   keys) matches everything, an empty `+and` matches everything and an empty `+or` matches nothing.
//! - When the object's value at a path is an array, the positive tests (equality, `+or` of values,
//!   comparisons, `+contains`) hold when any element passes; `+neq` is the exact negation of equality, so it
//!   holds when no element is equal. This is how Linode filters `tags`.
//! - `null` as an operand matches a `null` value or a missing field, and nothing else.
//! - Comparisons hold only between two numbers or two strings; any other pairing is false, never an error.
//! - `+contains` is case-sensitive.
//! - `+order` without `+order_by` is accepted and has no effect, since there is nothing to order by.
//! - Sorting ranks values of different types as missing or null < booleans < numbers < strings < arrays <
//!   objects; arrays and objects compare equal among themselves, so their input order is kept.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Number, Value};

/// The `field` under which every `X-Filter` error is reported.
pub const FILTER_ERROR_FIELD: &str = "X-Filter";

/// The deepest nesting of filter objects that is accepted.
///
/// The parser and the matcher recurse once per level, so a bound keeps a hostile header from exhausting the
/// stack; real clients nest two or three levels at most.
pub const MAX_DEPTH: usize = 32;

/// A parsed `X-Filter` header: a tree of conditions plus the optional order and limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    condition: Condition,
    order_by: Option<OrderBy>,
    direction: SortDirection,
    limit: Option<usize>,
}

/// The direction asked for with `+order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    /// `"asc"`, which is also the default.
    #[default]
    Ascending,
    /// `"desc"`.
    Descending,
}

/// Why an `X-Filter` header was refused; reported with the field [`FILTER_ERROR_FIELD`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub reason: String,
}

/// The field named by `+order_by`, kept both as given and split into a path.
#[derive(Debug, Clone, PartialEq)]
struct OrderBy {
    name: String,
    path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    /// Every condition holds; an empty list always holds.
    All(Vec<Condition>),
    /// At least one condition holds; an empty list never holds.
    Any(Vec<Condition>),
    /// The value found at `path` passes `test`.
    Field { path: Vec<String>, test: Test },
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    /// Holds for an equal scalar, or an array with an equal element; `null` also matches a missing field.
    Equal(Value),
    /// The exact negation of `Equal`.
    NotEqual(Value),
    /// The operand is always a number or a string.
    Compare(Comparison, Value),
    Contains(String),
    /// Holds when any of the values would pass `Equal`.
    OneOf(Vec<Value>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

impl Filter {
    /// Parses the header's JSON text. `fields` are the filterable field names of the resource
    /// (dot notation allowed for nested ones, e.g. "resource.type").
    pub fn parse(header: &str, fields: &[&str]) -> Result<Filter, FilterError> {
        let document: Value = serde_json::from_str(header).map_err(|error| {
            // serde_json gives up at 128 levels of JSON nesting, before our own bound is ever checked, so
            // its refusal is reported as the nesting problem it is rather than as broken JSON.
            if error.to_string().starts_with("recursion limit exceeded") {
                too_deep()
            } else {
                FilterError::new("X-Filter is not valid JSON")
            }
        })?;
        let Value::Object(object) = &document else {
            return Err(FilterError::new("X-Filter must be a JSON object"));
        };
        let mut parser = Parser { fields, order_by: None, direction: None, limit: None };
        let condition = parser.filter_object(object, 1)?;
        Ok(Filter {
            condition,
            order_by: parser.order_by,
            direction: parser.direction.unwrap_or_default(),
            limit: parser.limit,
        })
    }

    /// A filter that matches everything, in the given order: it neither sorts nor limits.
    pub fn none() -> Filter {
        Filter {
            condition: Condition::All(Vec::new()),
            order_by: None,
            direction: SortDirection::Ascending,
            limit: None,
        }
    }

    /// The value that the top-level field `name` must equal for an object to match, when the
    /// filter requires one (a plain `{"name": value}` or `+eq`, alone or among `+and`'s): a
    /// narrowing that the list's store can apply before the filter runs. `None` when the
    /// filter asks no such thing, or asks it only under `+or`.
    pub fn required(&self, name: &str) -> Option<&Value> {
        fn find<'a>(condition: &'a Condition, name: &str) -> Option<&'a Value> {
            match condition {
                Condition::All(conditions) => conditions.iter().find_map(|c| find(c, name)),
                Condition::Field { path, test: Test::Equal(value) }
                    if path.len() == 1 && path[0] == name && (value.is_string() || value.is_number()) =>
                {
                    Some(value)
                }
                _ => None,
            }
        }
        find(&self.condition, name)
    }

    /// Whether `object` satisfies every condition of the filter; the order and limit play no part.
    pub fn matches(&self, object: &Value) -> bool {
        self.condition.holds(object)
    }

    /// Sorts in place by `+order_by`/`+order`; a stable sort; leaves the order alone when no `+order_by` was given.
    pub fn sort(&self, items: &mut [Value]) {
        let Some(order_by) = &self.order_by else {
            return;
        };
        items.sort_by(|left, right| {
            let ordering = compare_for_sort(resolve(left, &order_by.path), resolve(right, &order_by.path));
            // Reversing the comparison, rather than the sorted slice, keeps ties in input order both ways.
            match self.direction {
                SortDirection::Ascending => ordering,
                SortDirection::Descending => ordering.reverse(),
            }
        });
    }

    /// Keeps the matching items, sorts them, then truncates to `+limit`; the result is what gets paged.
    pub fn apply(&self, mut items: Vec<Value>) -> Vec<Value> {
        items.retain(|item| self.matches(item));
        self.sort(&mut items);
        if let Some(limit) = self.limit {
            items.truncate(limit);
        }
        items
    }

    /// The field named by `+order_by`, exactly as the client spelled it.
    #[cfg(test)] // Only tests look inside a parsed filter.
    pub fn order_by(&self) -> Option<&str> {
        self.order_by.as_ref().map(|order_by| order_by.name.as_str())
    }

    /// The direction from `+order`; ascending when it was not given.
    #[cfg(test)] // Only tests look inside a parsed filter.
    pub fn direction(&self) -> SortDirection {
        self.direction
    }

    /// The positive integer given with `+limit`, if any.
    #[cfg(test)] // Only tests look inside a parsed filter.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }
}

impl Default for Filter {
    fn default() -> Filter {
        Filter::none()
    }
}

impl FilterError {
    fn new(reason: impl Into<String>) -> FilterError {
        FilterError { reason: reason.into() }
    }

    /// The `field` of the error body, always `"X-Filter"`.
    pub fn field(&self) -> &'static str {
        FILTER_ERROR_FIELD
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.reason)
    }
}

impl std::error::Error for FilterError {}

/// Walks the header once, collecting the order and limit keys wherever they sit.
struct Parser<'a> {
    fields: &'a [&'a str],
    order_by: Option<OrderBy>,
    direction: Option<SortDirection>,
    limit: Option<usize>,
}

impl Parser<'_> {
    fn filter_object(&mut self, object: &Map<String, Value>, depth: usize) -> Result<Condition, FilterError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let mut conditions = Vec::new();
        for (key, value) in object {
            match key.as_str() {
                "+and" => conditions.push(Condition::All(self.filter_list(key, value, depth)?)),
                "+or" => conditions.push(Condition::Any(self.filter_list(key, value, depth)?)),
                "+order_by" => self.set_order_by(value)?,
                "+order" => self.set_direction(value)?,
                "+limit" => self.set_limit(value)?,
                "+eq" | "+neq" | "+gt" | "+gte" | "+lt" | "+lte" | "+contains" => {
                    return Err(FilterError::new(format!(
                        "{key} must be applied to a field, as in {{\"label\": {{\"{key}\": ...}}}}"
                    )));
                }
                operator if operator.starts_with('+') => {
                    return Err(FilterError::new(format!("Unknown operator {operator}")));
                }
                field => conditions.push(self.field_condition(field, value)?),
            }
        }
        // A single condition needs no wrapper; this keeps the tree, and the matcher's recursion, shallow.
        if conditions.len() == 1 { Ok(conditions.remove(0)) } else { Ok(Condition::All(conditions)) }
    }

    fn filter_list(&mut self, operator: &str, value: &Value, depth: usize) -> Result<Vec<Condition>, FilterError> {
        let not_a_list = || FilterError::new(format!("{operator} needs an array of filter objects"));
        let Value::Array(elements) = value else {
            return Err(not_a_list());
        };
        elements
            .iter()
            .map(|element| match element {
                Value::Object(object) => self.filter_object(object, depth + 1),
                _ => Err(not_a_list()),
            })
            .collect()
    }

    fn field_condition(&self, field: &str, value: &Value) -> Result<Condition, FilterError> {
        if !self.fields.contains(&field) {
            return Err(FilterError::new(format!("Cannot filter on {field}")));
        }
        let path = split_path(field);
        let operators = match value {
            Value::Object(operators) => operators,
            Value::Array(_) => {
                return Err(FilterError::new(format!(
                    "{field} needs a string, number, boolean or null; use +or to match one of several values"
                )));
            }
            plain => return Ok(Condition::Field { path, test: Test::Equal(plain.clone()) }),
        };
        if operators.is_empty() {
            return Err(FilterError::new(format!("{field} needs a value or an operator such as +eq")));
        }
        let mut conditions = Vec::with_capacity(operators.len());
        for (operator, operand) in operators {
            let test = field_test(field, operator, operand)?;
            conditions.push(Condition::Field { path: path.clone(), test });
        }
        if conditions.len() == 1 { Ok(conditions.remove(0)) } else { Ok(Condition::All(conditions)) }
    }

    fn set_order_by(&mut self, value: &Value) -> Result<(), FilterError> {
        let Value::String(name) = value else {
            return Err(FilterError::new("+order_by needs the name of a field"));
        };
        if !self.fields.contains(&name.as_str()) {
            return Err(FilterError::new(format!("Cannot order by {name}")));
        }
        match &self.order_by {
            Some(existing) if existing.name != *name => {
                // Naming the two in sorted order keeps the reason independent of the JSON map's key order.
                let (first, second) = sorted_pair(existing.name.as_str(), name.as_str());
                Err(FilterError::new(format!("+order_by is given twice, as {first} and as {second}")))
            }
            Some(_) => Ok(()),
            None => {
                self.order_by = Some(OrderBy { name: name.clone(), path: split_path(name) });
                Ok(())
            }
        }
    }

    fn set_direction(&mut self, value: &Value) -> Result<(), FilterError> {
        let direction = match value.as_str() {
            Some("asc") => SortDirection::Ascending,
            Some("desc") => SortDirection::Descending,
            _ => return Err(FilterError::new(format!("+order must be \"asc\" or \"desc\", not {value}"))),
        };
        match self.direction {
            Some(existing) if existing != direction => {
                Err(FilterError::new("+order is given twice, as both \"asc\" and \"desc\""))
            }
            _ => {
                self.direction = Some(direction);
                Ok(())
            }
        }
    }

    fn set_limit(&mut self, value: &Value) -> Result<(), FilterError> {
        let limit = value
            .as_u64()
            .filter(|limit| *limit >= 1)
            .and_then(|limit| usize::try_from(limit).ok())
            .ok_or_else(|| FilterError::new(format!("+limit must be a positive integer, not {value}")))?;
        match self.limit {
            Some(existing) if existing != limit => {
                let (first, second) = sorted_pair(existing, limit);
                Err(FilterError::new(format!("+limit is given twice, as {first} and as {second}")))
            }
            _ => {
                self.limit = Some(limit);
                Ok(())
            }
        }
    }
}

/// Parses one operator of a field's operator object, such as `"+gte": 3` inside `{"id": {"+gte": 3}}`.
fn field_test(field: &str, operator: &str, operand: &Value) -> Result<Test, FilterError> {
    let comparison = match operator {
        "+eq" => return Ok(Test::Equal(plain_operand(field, operator, operand)?)),
        "+neq" => return Ok(Test::NotEqual(plain_operand(field, operator, operand)?)),
        "+contains" => {
            return match operand {
                Value::String(needle) => Ok(Test::Contains(needle.clone())),
                _ => Err(FilterError::new(format!("{operator} on {field} needs a string"))),
            };
        }
        "+or" => {
            let values = match operand {
                Value::Array(values) if values.iter().all(is_plain) => values.clone(),
                _ => {
                    return Err(FilterError::new(format!(
                        "{operator} on {field} needs an array of strings, numbers, booleans or nulls"
                    )));
                }
            };
            return Ok(Test::OneOf(values));
        }
        "+gt" => Comparison::Greater,
        "+gte" => Comparison::GreaterOrEqual,
        "+lt" => Comparison::Less,
        "+lte" => Comparison::LessOrEqual,
        _ if operator.starts_with('+') => {
            return Err(FilterError::new(format!("Unknown operator {operator} on {field}")));
        }
        _ => {
            return Err(FilterError::new(format!(
                "{field} needs a value or operators such as +eq, not a key named {operator}"
            )));
        }
    };
    match operand {
        // Strings are allowed because Linode compares ISO 8601 dates this way.
        Value::Number(_) | Value::String(_) => Ok(Test::Compare(comparison, operand.clone())),
        _ => Err(FilterError::new(format!("{operator} on {field} needs a number"))),
    }
}

fn plain_operand(field: &str, operator: &str, operand: &Value) -> Result<Value, FilterError> {
    if is_plain(operand) {
        Ok(operand.clone())
    } else {
        Err(FilterError::new(format!("{operator} on {field} needs a string, number, boolean or null")))
    }
}

fn is_plain(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

fn sorted_pair<T: Ord>(left: T, right: T) -> (T, T) {
    if left <= right { (left, right) } else { (right, left) }
}

fn too_deep() -> FilterError {
    FilterError::new(format!("X-Filter nests filter objects deeper than {MAX_DEPTH} levels"))
}

fn split_path(field: &str) -> Vec<String> {
    field.split('.').map(str::to_owned).collect()
}

/// Follows a dotted path through nested objects; anything that is not an object on the way means "missing".
fn resolve<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(object, |current, segment| current.as_object()?.get(segment))
}

impl Condition {
    fn holds(&self, object: &Value) -> bool {
        match self {
            Condition::All(conditions) => conditions.iter().all(|condition| condition.holds(object)),
            Condition::Any(conditions) => conditions.iter().any(|condition| condition.holds(object)),
            Condition::Field { path, test } => test.holds(resolve(object, path)),
        }
    }
}

impl Test {
    fn holds(&self, value: Option<&Value>) -> bool {
        match self {
            Test::Equal(expected) => equals(value, expected),
            Test::NotEqual(expected) => !equals(value, expected),
            Test::Compare(comparison, bound) => any_element(value, |element| {
                compare_same_kind(element, bound).is_some_and(|ordering| comparison.accepts(ordering))
            }),
            Test::Contains(needle) => {
                any_element(value, |element| element.as_str().is_some_and(|text| text.contains(needle.as_str())))
            }
            Test::OneOf(options) => options.iter().any(|option| equals(value, option)),
        }
    }
}

impl Comparison {
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Greater => ordering == Ordering::Greater,
            Comparison::GreaterOrEqual => ordering != Ordering::Less,
            Comparison::Less => ordering == Ordering::Less,
            Comparison::LessOrEqual => ordering != Ordering::Greater,
        }
    }
}

fn equals(value: Option<&Value>, expected: &Value) -> bool {
    if expected.is_null() {
        return value.is_none_or(Value::is_null);
    }
    any_element(value, |element| scalars_equal(element, expected))
}

/// Applies `test` to a scalar, or to each element of an array, which is how Linode matches `tags`.
fn any_element(value: Option<&Value>, test: impl Fn(&Value) -> bool) -> bool {
    match value {
        None => false,
        Some(Value::Array(elements)) => elements.iter().any(test),
        Some(scalar) => test(scalar),
    }
}

fn scalars_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => compare_numbers(left, right) == Ordering::Equal,
        (Value::String(left), Value::String(right)) => left == right,
        (Value::Bool(left), Value::Bool(right)) => left == right,
        (Value::Null, Value::Null) => true,
        _ => false,
    }
}

/// Orders two numbers or two strings; `None` for any other pairing, which no comparison accepts.
fn compare_same_kind(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => Some(compare_numbers(left, right)),
        (Value::String(left), Value::String(right)) => Some(left.cmp(right)),
        _ => None,
    }
}

/// Compares integers exactly and everything else as `f64`, so that 5 equals 5.0 and large ids stay distinct.
fn compare_numbers(left: &Number, right: &Number) -> Ordering {
    match (exact_integer(left), exact_integer(right)) {
        (Some(left), Some(right)) => left.cmp(&right),
        // JSON has no NaN, so `partial_cmp` only fails if a number cannot be read at all.
        _ => left.as_f64().partial_cmp(&right.as_f64()).unwrap_or(Ordering::Equal),
    }
}

fn exact_integer(number: &Number) -> Option<i128> {
    number.as_i64().map(i128::from).or_else(|| number.as_u64().map(i128::from))
}

/// The ascending order of `+order_by`; see the module documentation for how types rank against each other.
fn compare_for_sort(left: Option<&Value>, right: Option<&Value>) -> Ordering {
    fn rank(value: Option<&Value>) -> u8 {
        match value {
            None | Some(Value::Null) => 0,
            Some(Value::Bool(_)) => 1,
            Some(Value::Number(_)) => 2,
            Some(Value::String(_)) => 3,
            Some(Value::Array(_)) => 4,
            Some(Value::Object(_)) => 5,
        }
    }
    match (left, right) {
        (Some(Value::Bool(left)), Some(Value::Bool(right))) => left.cmp(right),
        (Some(Value::Number(left)), Some(Value::Number(right))) => compare_numbers(left, right),
        (Some(Value::String(left)), Some(Value::String(right))) => left.cmp(right),
        _ => rank(left).cmp(&rank(right)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The filterable fields of a placement group, plus a nested field and `tags` to exercise those paths.
    const FIELDS: &[&str] = &[
        "id",
        "label",
        "region",
        "placement_group_type",
        "placement_group_policy",
        "is_compliant",
        "is_public",
        "tags",
        "resource.type",
        "created",
    ];

    fn parse(header: &str) -> Filter {
        match Filter::parse(header, FIELDS) {
            Ok(filter) => filter,
            Err(error) => panic!("{header} was refused: {}", error.reason),
        }
    }

    #[test]
    fn a_value_required_of_every_match_is_found_only_where_every_match_needs_it() {
        assert_eq!(parse(r#"{"label": "web"}"#).required("label"), Some(&json!("web")));
        assert_eq!(parse(r#"{"region": {"+eq": "us-mia"}}"#).required("region"), Some(&json!("us-mia")));
        let both = parse(r#"{"+and": [{"id": 7}, {"+and": [{"label": "db"}]}], "+order_by": "id"}"#);
        assert_eq!((both.required("id"), both.required("label")), (Some(&json!(7)), Some(&json!("db"))));
        for loose in [
            r#"{"+or": [{"label": "a"}, {"label": "b"}]}"#,
            r#"{"label": {"+neq": "a"}}"#,
            r#"{"label": {"+contains": "a"}}"#,
            r#"{"label": null}"#,
            r#"{"resource.type": "a"}"#,
        ] {
            assert_eq!(parse(loose).required("label"), None, "{loose}");
        }
        assert_eq!(parse(r#"{"resource.type": "a"}"#).required("resource.type"), None, "a nested path is not a field");
    }

    fn refusal(header: &str) -> String {
        match Filter::parse(header, FIELDS) {
            Ok(filter) => panic!("{header} was accepted as {filter:?}"),
            Err(error) => error.reason,
        }
    }

    fn group(id: u64, label: &str, region: &str) -> Value {
        json!({
            "id": id,
            "label": label,
            "region": region,
            "placement_group_type": "anti_affinity:local",
            "placement_group_policy": "strict",
            "is_compliant": true,
            "members": [],
            "migrations": null,
        })
    }

    fn groups() -> Vec<Value> {
        vec![
            group(1, "pg-alpha", "us-mia"),
            group(2, "pg-beta", "us-ord"),
            group(3, "pg1", "us-mia"),
            group(4, "other", "us-mia"),
            group(6251, "pg1", "us-ord"),
        ]
    }

    fn ids(items: &[Value]) -> Vec<u64> {
        items.iter().map(|item| item["id"].as_u64().expect("every test object has a numeric id")).collect()
    }

    fn matching_ids(header: &str) -> Vec<u64> {
        ids(&parse(header).apply(groups()))
    }

    #[test]
    fn the_cli_label_filter_with_order_keys_filters_and_orders() {
        let filter = parse(r#"{"label": "pg1", "+order_by": "label", "+order": "desc"}"#);
        assert_eq!(filter.order_by(), Some("label"));
        assert_eq!(filter.direction(), SortDirection::Descending);
        assert_eq!(filter.limit(), None);
        assert_eq!(ids(&filter.apply(groups())), vec![3, 6251]);
    }

    #[test]
    fn the_cli_repeated_arguments_are_anded() {
        assert_eq!(matching_ids(r#"{"+and":[{"label":"pg1"},{"region":"us-ord"}]}"#), vec![6251]);
        assert_eq!(matching_ids(r#"{"+and":[{"label":"pg1"},{"label":"other"}]}"#), Vec::<u64>::new());
    }

    #[test]
    fn the_cli_boolean_filter_matches_booleans_only() {
        let filter = parse(r#"{"is_public": true}"#);
        assert!(filter.matches(&json!({"is_public": true})));
        assert!(!filter.matches(&json!({"is_public": false})));
        assert!(!filter.matches(&json!({"is_public": "true"})));
        assert!(!filter.matches(&json!({})));
    }

    #[test]
    fn the_sdk_equality_filter_matches_the_exact_label() {
        assert_eq!(matching_ids(r#"{"label": "pg1"}"#), vec![3, 6251]);
    }

    #[test]
    fn the_sdk_contains_and_region_filter_combines_both() {
        assert_eq!(matching_ids(r#"{"+and":[{"label":{"+contains":"pg"}},{"region":"us-mia"}]}"#), vec![1, 3]);
    }

    #[test]
    fn the_sdk_or_filter_matches_either_side() {
        assert_eq!(matching_ids(r#"{"+or":[{"label":"pg-beta"},{"id":4}]}"#), vec![2, 4]);
    }

    #[test]
    fn the_sdk_order_keys_nested_in_an_and_element_are_pulled_out() {
        let filter = parse(r#"{"+and":[{"region":"us-mia"},{"+order_by":"label","+order":"desc"}]}"#);
        assert_eq!(filter.order_by(), Some("label"));
        assert_eq!(filter.direction(), SortDirection::Descending);
        // Byte order puts "pg1" after "pg-alpha", since '1' is 0x31 and '-' is 0x2d.
        assert_eq!(ids(&filter.apply(groups())), vec![3, 1, 4]);
    }

    #[test]
    fn order_keys_nested_deeper_are_pulled_out_too() {
        let filter = parse(r#"{"+or":[{"+and":[{"label":"pg1"},{"+order_by":"id","+order":"desc"}]},{"id":1}]}"#);
        assert_eq!(filter.order_by(), Some("id"));
        assert_eq!(ids(&filter.apply(groups())), vec![6251, 3, 1]);
    }

    #[test]
    fn the_linodego_id_filter_matches_one_group() {
        assert_eq!(matching_ids(r#"{"id": 6251}"#), vec![6251]);
    }

    #[test]
    fn top_level_keys_are_anded() {
        assert_eq!(matching_ids(r#"{"label":"pg1","region":"us-mia"}"#), vec![3]);
    }

    #[test]
    fn an_empty_filter_matches_everything_and_keeps_the_order() {
        assert_eq!(matching_ids("{}"), vec![1, 2, 3, 4, 6251]);
        assert_eq!(ids(&Filter::none().apply(groups())), vec![1, 2, 3, 4, 6251]);
        assert_eq!(Filter::default(), Filter::none());
    }

    #[test]
    fn an_element_holding_only_order_keys_matches_everything() {
        let filter = parse(r#"{"+and":[{"+order_by":"id"}]}"#);
        assert!(filter.matches(&json!({"id": 1})));
        assert!(filter.matches(&json!({})));
    }

    #[test]
    fn an_empty_and_matches_everything_and_an_empty_or_matches_nothing() {
        assert_eq!(matching_ids(r#"{"+and":[]}"#).len(), 5);
        assert_eq!(matching_ids(r#"{"+or":[]}"#), Vec::<u64>::new());
    }

    #[test]
    fn and_and_or_nest_arbitrarily() {
        let header = r#"{"+or":[{"+and":[{"region":"us-mia"},{"+or":[{"id":1},{"id":4}]}]},{"label":"pg-beta"}]}"#;
        assert_eq!(matching_ids(header), vec![1, 2, 4]);
    }

    #[test]
    fn numbers_compare_numerically_so_an_integer_equals_its_float() {
        assert!(parse(r#"{"id": 5.0}"#).matches(&json!({"id": 5})));
        assert!(parse(r#"{"id": 5}"#).matches(&json!({"id": 5.0})));
        assert!(!parse(r#"{"id": 5}"#).matches(&json!({"id": "5"})));
        assert!(!parse(r#"{"id": 18446744073709551615}"#).matches(&json!({"id": 18446744073709551614_u64})));
        assert!(parse(r#"{"id": -3}"#).matches(&json!({"id": -3})));
    }

    #[test]
    fn string_equality_is_exact() {
        let filter = parse(r#"{"label": "pg1"}"#);
        assert!(!filter.matches(&json!({"label": "PG1"})));
        assert!(!filter.matches(&json!({"label": "pg1 "})));
    }

    #[test]
    fn null_matches_a_null_or_missing_field_only() {
        let filter = parse(r#"{"label": null}"#);
        assert!(filter.matches(&json!({"label": null})));
        assert!(filter.matches(&json!({})));
        assert!(!filter.matches(&json!({"label": ""})));
        assert!(!filter.matches(&json!({"label": false})));
        assert!(!parse(r#"{"label": "x"}"#).matches(&json!({})));
    }

    #[test]
    fn comparison_operators_compare_numbers() {
        assert_eq!(matching_ids(r#"{"id": {"+gt": 3}}"#), vec![4, 6251]);
        assert_eq!(matching_ids(r#"{"id": {"+gte": 3}}"#), vec![3, 4, 6251]);
        assert_eq!(matching_ids(r#"{"id": {"+lt": 3}}"#), vec![1, 2]);
        assert_eq!(matching_ids(r#"{"id": {"+lte": 3}}"#), vec![1, 2, 3]);
        assert_eq!(matching_ids(r#"{"id": {"+gt": 2.5}}"#), vec![3, 4, 6251]);
    }

    #[test]
    fn several_operators_on_one_field_are_anded() {
        assert_eq!(matching_ids(r#"{"id": {"+gte": 2, "+lt": 4}}"#), vec![2, 3]);
        assert_eq!(matching_ids(r#"{"label": {"+contains": "pg", "+neq": "pg1"}}"#), vec![1, 2]);
    }

    #[test]
    fn comparisons_between_strings_are_lexical_for_dates() {
        let filter = parse(r#"{"created": {"+gte": "2024-03-01T00:00:00"}}"#);
        assert!(filter.matches(&json!({"created": "2024-03-01T00:00:00"})));
        assert!(filter.matches(&json!({"created": "2025-01-01T00:00:00"})));
        assert!(!filter.matches(&json!({"created": "2024-02-29T23:59:59"})));
    }

    #[test]
    fn comparisons_across_types_never_match() {
        let filter = parse(r#"{"created": {"+lt": "2024"}}"#);
        assert!(!filter.matches(&json!({"created": 5})));
        assert!(!filter.matches(&json!({"created": null})));
        assert!(!filter.matches(&json!({})));
        assert!(!parse(r#"{"id": {"+gt": 0}}"#).matches(&json!({"id": "7"})));
    }

    #[test]
    fn contains_is_a_case_sensitive_substring_match_on_strings() {
        let filter = parse(r#"{"label": {"+contains": "alp"}}"#);
        assert!(filter.matches(&json!({"label": "pg-alpha"})));
        assert!(!filter.matches(&json!({"label": "pg-ALPHA"})));
        assert!(!filter.matches(&json!({"label": 5})));
        assert!(!filter.matches(&json!({})));
    }

    #[test]
    fn neq_is_the_negation_of_equality() {
        assert_eq!(matching_ids(r#"{"region": {"+neq": "us-mia"}}"#), vec![2, 6251]);
        let filter = parse(r#"{"label": {"+neq": "x"}}"#);
        assert!(filter.matches(&json!({})));
        assert!(!parse(r#"{"label": {"+neq": null}}"#).matches(&json!({})));
        assert!(parse(r#"{"label": {"+neq": null}}"#).matches(&json!({"label": "x"})));
    }

    #[test]
    fn eq_behaves_like_a_plain_value() {
        assert_eq!(matching_ids(r#"{"label": {"+eq": "pg1"}}"#), matching_ids(r#"{"label": "pg1"}"#));
    }

    #[test]
    fn a_field_or_matches_any_of_its_plain_values() {
        assert_eq!(matching_ids(r#"{"id": {"+or": [2, 4, 99]}}"#), vec![2, 4]);
        assert_eq!(matching_ids(r#"{"id": {"+or": []}}"#), Vec::<u64>::new());
    }

    #[test]
    fn dot_notation_resolves_into_nested_objects() {
        let filter = parse(r#"{"resource.type": "linode"}"#);
        assert!(filter.matches(&json!({"resource": {"type": "linode"}})));
        assert!(!filter.matches(&json!({"resource": {"type": "volume"}})));
        assert!(!filter.matches(&json!({"resource": "linode"})));
        assert!(!filter.matches(&json!({"resource.type": "linode"})));
        assert!(!filter.matches(&json!({})));
    }

    #[test]
    fn equality_on_an_array_matches_when_any_element_is_equal() {
        let filter = parse(r#"{"tags": "prod"}"#);
        assert!(filter.matches(&json!({"tags": ["web", "prod"]})));
        assert!(!filter.matches(&json!({"tags": ["web"]})));
        assert!(!filter.matches(&json!({"tags": []})));
        assert!(!parse(r#"{"tags": {"+neq": "prod"}}"#).matches(&json!({"tags": ["web", "prod"]})));
        assert!(parse(r#"{"tags": {"+neq": "prod"}}"#).matches(&json!({"tags": ["web"]})));
        assert!(parse(r#"{"tags": {"+contains": "ro"}}"#).matches(&json!({"tags": ["web", "prod"]})));
    }

    #[test]
    fn limit_is_exposed_and_applied_after_sorting() {
        let filter = parse(r#"{"+limit": 2, "+order_by": "id", "+order": "desc"}"#);
        assert_eq!(filter.limit(), Some(2));
        assert_eq!(ids(&filter.apply(groups())), vec![6251, 4]);
        assert_eq!(parse(r#"{"+and":[{"region":"us-mia"},{"+limit":1}]}"#).limit(), Some(1));
    }

    #[test]
    fn repeating_the_same_order_or_limit_is_accepted() {
        let filter = parse(r#"{"+order_by":"id","+limit":3,"+and":[{"+order_by":"id","+order":"asc","+limit":3}]}"#);
        assert_eq!(filter.order_by(), Some("id"));
        assert_eq!(filter.limit(), Some(3));
    }

    #[test]
    fn order_without_order_by_is_accepted_and_changes_nothing() {
        let filter = parse(r#"{"+order": "desc"}"#);
        assert_eq!(filter.order_by(), None);
        assert_eq!(ids(&filter.apply(groups())), vec![1, 2, 3, 4, 6251]);
    }

    #[test]
    fn sorting_by_a_string_field_is_lexical_and_ascending_by_default() {
        let filter = parse(r#"{"+order_by": "label"}"#);
        assert_eq!(filter.direction(), SortDirection::Ascending);
        // "pg1" appears twice (ids 3 and 6251), and the stable sort keeps them in input order.
        assert_eq!(ids(&filter.apply(groups())), vec![4, 1, 2, 3, 6251]);
    }

    #[test]
    fn descending_sorts_keep_ties_in_input_order() {
        let filter = parse(r#"{"+order_by": "label", "+order": "desc"}"#);
        assert_eq!(ids(&filter.apply(groups())), vec![3, 6251, 2, 1, 4]);
    }

    #[test]
    fn sorting_by_numbers_is_numeric_not_lexical() {
        let mut items = vec![json!({"id": 10}), json!({"id": 9}), json!({"id": 100}), json!({"id": 9.5})];
        parse(r#"{"+order_by": "id"}"#).sort(&mut items);
        assert_eq!(items, vec![json!({"id": 9}), json!({"id": 9.5}), json!({"id": 10}), json!({"id": 100})]);
    }

    #[test]
    fn sorting_mixed_types_puts_missing_and_null_first_then_booleans_numbers_strings_arrays_objects() {
        let mut items = vec![
            json!({"id": 1, "label": {"a": 1}}),
            json!({"id": 2, "label": ["x"]}),
            json!({"id": 3, "label": "b"}),
            json!({"id": 4, "label": 2}),
            json!({"id": 5, "label": true}),
            json!({"id": 6, "label": false}),
            json!({"id": 7, "label": null}),
            json!({"id": 8}),
            json!({"id": 9, "label": "a"}),
        ];
        let ascending = parse(r#"{"+order_by": "label"}"#);
        ascending.sort(&mut items);
        assert_eq!(ids(&items), vec![7, 8, 6, 5, 4, 9, 3, 2, 1]);
        let descending = parse(r#"{"+order_by": "label", "+order": "desc"}"#);
        descending.sort(&mut items);
        assert_eq!(ids(&items), vec![1, 2, 3, 9, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn sorting_by_a_nested_field_follows_the_dots() {
        let mut items =
            vec![json!({"id": 1, "resource": {"type": "volume"}}), json!({"id": 2, "resource": {"type": "linode"}})];
        parse(r#"{"+order_by": "resource.type"}"#).sort(&mut items);
        assert_eq!(ids(&items), vec![2, 1]);
    }

    #[test]
    fn sort_without_order_by_leaves_the_order_alone() {
        let mut items = groups();
        items.reverse();
        let expected = items.clone();
        parse(r#"{"label": {"+contains": ""}}"#).sort(&mut items);
        assert_eq!(items, expected);
    }

    #[test]
    fn an_unknown_field_cannot_be_filtered_on() {
        assert_eq!(refusal(r#"{"foo": 1}"#), "Cannot filter on foo");
        assert_eq!(refusal(r#"{"members": []}"#), "Cannot filter on members");
        assert_eq!(refusal(r#"{"+and":[{"region":"us-mia"},{"Label":"x"}]}"#), "Cannot filter on Label");
        assert_eq!(refusal(r#"{"resource": {"type": "linode"}}"#), "Cannot filter on resource");
    }

    #[test]
    fn ordering_by_an_unknown_field_is_refused() {
        assert_eq!(refusal(r#"{"+order_by": "members"}"#), "Cannot order by members");
        assert_eq!(refusal(r#"{"+and":[{"+order_by":"foo"}]}"#), "Cannot order by foo");
        assert_eq!(refusal(r#"{"+order_by": 3}"#), "+order_by needs the name of a field");
    }

    #[test]
    fn a_bad_order_direction_is_refused_with_its_value() {
        assert_eq!(refusal(r#"{"+order": "up"}"#), r#"+order must be "asc" or "desc", not "up""#);
        assert_eq!(refusal(r#"{"+order": "DESC"}"#), r#"+order must be "asc" or "desc", not "DESC""#);
        assert_eq!(refusal(r#"{"+order": 1}"#), r#"+order must be "asc" or "desc", not 1"#);
    }

    #[test]
    fn conflicting_order_keys_are_refused() {
        assert_eq!(
            refusal(r#"{"+order_by":"label","+and":[{"+order_by":"id"}]}"#),
            "+order_by is given twice, as id and as label"
        );
        assert_eq!(
            refusal(r#"{"+order":"asc","+and":[{"+order":"desc"}]}"#),
            r#"+order is given twice, as both "asc" and "desc""#
        );
    }

    #[test]
    fn a_bad_limit_is_refused() {
        for header in [r#"{"+limit": 0}"#, r#"{"+limit": -1}"#, r#"{"+limit": 2.5}"#, r#"{"+limit": "5"}"#] {
            assert!(refusal(header).starts_with("+limit must be a positive integer"), "{header}");
        }
        assert_eq!(refusal(r#"{"+limit":1,"+and":[{"+limit":2}]}"#), "+limit is given twice, as 1 and as 2");
    }

    #[test]
    fn an_unknown_operator_is_named_in_the_reason() {
        assert_eq!(refusal(r#"{"+foo": 1}"#), "Unknown operator +foo");
        assert_eq!(refusal(r#"{"label": {"+like": "pg%"}}"#), "Unknown operator +like on label");
        assert_eq!(refusal(r#"{"label": {"+and": ["a"]}}"#), "Unknown operator +and on label");
        assert_eq!(
            refusal(r#"{"label": {"contains": "pg"}}"#),
            "label needs a value or operators such as +eq, not a key named contains"
        );
    }

    #[test]
    fn a_field_operator_at_the_top_level_is_refused() {
        assert_eq!(refusal(r#"{"+gt": 5}"#), r#"+gt must be applied to a field, as in {"label": {"+gt": ...}}"#);
        assert!(refusal(r#"{"+contains": "x"}"#).starts_with("+contains must be applied to a field"));
    }

    #[test]
    fn malformed_json_is_refused() {
        for header in ["", "   ", "{", "{\"label\": }", "{'label': 'x'}", "{\"label\": \"x\"} trailing"] {
            assert_eq!(refusal(header), "X-Filter is not valid JSON", "{header:?}");
        }
    }

    #[test]
    fn a_top_level_other_than_an_object_is_refused() {
        for header in ["[]", "[{\"label\": \"x\"}]", "\"label\"", "5", "null", "true"] {
            assert_eq!(refusal(header), "X-Filter must be a JSON object", "{header}");
        }
    }

    #[test]
    fn and_and_or_need_arrays_of_objects() {
        assert_eq!(refusal(r#"{"+and": {"label": "x"}}"#), "+and needs an array of filter objects");
        assert_eq!(refusal(r#"{"+or": [{"label": "x"}, "y"]}"#), "+or needs an array of filter objects");
        assert_eq!(refusal(r#"{"+or": [[{"label": "x"}]]}"#), "+or needs an array of filter objects");
        assert_eq!(refusal(r#"{"+and": null}"#), "+and needs an array of filter objects");
    }

    #[test]
    fn comparisons_need_a_number_or_a_string() {
        assert_eq!(refusal(r#"{"id": {"+gt": true}}"#), "+gt on id needs a number");
        assert_eq!(refusal(r#"{"id": {"+gte": null}}"#), "+gte on id needs a number");
        assert_eq!(refusal(r#"{"id": {"+lt": [1]}}"#), "+lt on id needs a number");
        assert_eq!(refusal(r#"{"id": {"+lte": {}}}"#), "+lte on id needs a number");
    }

    #[test]
    fn contains_needs_a_string() {
        assert_eq!(refusal(r#"{"label": {"+contains": 5}}"#), "+contains on label needs a string");
        assert_eq!(refusal(r#"{"label": {"+contains": null}}"#), "+contains on label needs a string");
    }

    #[test]
    fn equality_operands_must_be_plain_values() {
        assert_eq!(refusal(r#"{"label": {"+eq": ["x"]}}"#), "+eq on label needs a string, number, boolean or null");
        assert_eq!(refusal(r#"{"label": {"+neq": {}}}"#), "+neq on label needs a string, number, boolean or null");
        assert_eq!(
            refusal(r#"{"id": {"+or": [1, [2]]}}"#),
            "+or on id needs an array of strings, numbers, booleans or nulls"
        );
        assert_eq!(refusal(r#"{"id": {"+or": 1}}"#), "+or on id needs an array of strings, numbers, booleans or nulls");
        assert!(refusal(r#"{"tags": ["a", "b"]}"#).starts_with("tags needs a string, number, boolean or null"));
        assert_eq!(refusal(r#"{"label": {}}"#), "label needs a value or an operator such as +eq");
    }

    fn nested_ands(levels: usize) -> String {
        let mut header = String::from(r#"{"id": 1}"#);
        for _ in 1..levels {
            header = format!(r#"{{"+and": [{header}]}}"#);
        }
        header
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        assert!(parse(&nested_ands(MAX_DEPTH)).matches(&json!({"id": 1})));
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_without_overflowing_the_stack() {
        let reason = format!("X-Filter nests filter objects deeper than {MAX_DEPTH} levels");
        assert_eq!(refusal(&nested_ands(MAX_DEPTH + 1)), reason);
        // Deep enough that serde_json itself refuses it before the filter parser sees it.
        assert_eq!(refusal(&nested_ands(10_000)), reason);
        assert_eq!(refusal(&"[".repeat(100_000)), reason);
    }

    #[test]
    fn odd_inputs_get_a_definite_answer() {
        // Each header with the number of groups it matches, or the reason it is refused.
        let cases: [(&str, Result<usize, &str>); 10] = [
            ("\u{0}", Err("X-Filter is not valid JSON")),
            ("{\"id\": 01}", Err("X-Filter is not valid JSON")),
            ("{\"label\": \"\\ud800\"}", Err("X-Filter is not valid JSON")),
            ("{\"\": 1}", Err("Cannot filter on ")),
            ("{\"+\": 1}", Err("Unknown operator +")),
            ("{\"+order_by\": \"\"}", Err("Cannot order by ")),
            ("{\"id\": -0}", Ok(0)),
            ("{\"id\": {\"+gt\": 1e308}}", Ok(0)),
            ("{\"+and\": [{}, {}, {\"+or\": [{}]}]}", Ok(5)),
            ("{\"+limit\": 18446744073709551615}", Ok(5)),
        ];
        for (header, expected) in cases {
            let outcome = Filter::parse(header, FIELDS).map(|filter| filter.apply(groups()).len());
            assert_eq!(outcome.map_err(|error| error.reason), expected.map_err(str::to_owned), "{header:?}");
        }
        assert!(parse("{\"id\": -0}").matches(&json!({"id": 0})));
    }

    #[test]
    fn matching_a_value_that_is_not_an_object_treats_every_field_as_missing() {
        assert!(!parse(r#"{"id": 1}"#).matches(&json!([1])));
        assert!(parse(r#"{"id": null}"#).matches(&json!("text")));
    }

    #[test]
    fn errors_are_reported_under_the_x_filter_field() {
        let error = Filter::parse("{\"foo\": 1}", FIELDS).expect_err("foo is not filterable");
        assert_eq!(error.field(), "X-Filter");
        assert_eq!(error.to_string(), "Cannot filter on foo");
    }
}
