//! Reads the `page` and `page_size` query parameters of Linode API v4 list requests and cuts out one page.
//!
//! The real API answers every list with `{"data", "page", "pages", "results"}`, where `pages` is 1, not 0,
//! for an empty list. The real error texts for bad values are not recorded, so the reasons here are our own.

use std::fmt;

use serde_json::Value;

/// The page size when the client sends none.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// The smallest page size the real API accepts.
pub const MIN_PAGE_SIZE: u64 = 25;
/// The largest page size the real API accepts; `linode-cli --all-rows` asks for exactly this.
pub const MAX_PAGE_SIZE: u64 = 500;

/// The page a client asked for, already checked to be in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub page_size: u64,
}

/// Why `page` or `page_size` was refused; `field` is `"page"` or `"page_size"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageError {
    pub reason: String,
    pub field: &'static str,
}

/// One page of results, with the counts the envelope reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub page: u64,
    pub pages: u64,
    pub results: u64,
}

impl PageRequest {
    /// From the raw query values (None when absent). Defaults: page 1, page_size 100.
    /// page must be an integer >= 1; page_size an integer in 25..=500. Reasons like
    /// "page_size must be a number between 25 and 500" / "page must be a number greater than or equal to 1".
    ///
    /// Numbers are read as Rust reads a `u64`: decimal digits with an optional leading `+`, no spaces.
    pub fn parse(page: Option<&str>, page_size: Option<&str>) -> Result<PageRequest, PageError> {
        let page = match page {
            None => 1,
            Some(text) => text.parse::<u64>().ok().filter(|page| *page >= 1).ok_or_else(page_number_error)?,
        };
        let page_size = match page_size {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|size| (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(size))
                .ok_or_else(page_size_error)?,
        };
        Ok(PageRequest { page, page_size })
    }
}

impl PageRequest {
    /// The items of the page: how many come before it, and how many it holds.
    pub fn window(&self) -> (u64, u64) {
        // Saturating: a page far beyond the list skips everything, and is refused by its count.
        (self.page.saturating_sub(1).saturating_mul(self.page_size), self.page_size)
    }
}

impl Default for PageRequest {
    fn default() -> PageRequest {
        PageRequest { page: 1, page_size: DEFAULT_PAGE_SIZE }
    }
}

/// Cuts one page out of all the results. `pages` is 1 (never 0) when there are no results.
/// A page beyond `pages` is an error with field "page" (reason e.g. "page 3 is out of range: there are 2 pages").
///
/// The fields of `PageRequest` are public, so a request that did not come from `parse` may hold a page or a
/// page size of 0; those are refused here rather than divided by. Other page sizes are honoured as given.
pub fn paginate<T>(items: Vec<T>, request: PageRequest) -> Result<Page<T>, PageError> {
    let results = u64::try_from(items.len()).unwrap_or(u64::MAX);
    let pages = pages_of(request, results)?;
    let (skipped, taken) = request.window();
    let skipped = usize::try_from(skipped).unwrap_or(usize::MAX);
    let taken = usize::try_from(taken).unwrap_or(usize::MAX);
    let data = items.into_iter().skip(skipped).take(taken).collect();
    Ok(Page { data, page: request.page, pages, results })
}

/// The page `request` asks for, given its items (cut from the list elsewhere, by
/// [`PageRequest::window`]) and how many results the whole list holds; refused as
/// [`paginate`] refuses it.
pub fn page_of<T>(data: Vec<T>, request: PageRequest, results: u64) -> Result<Page<T>, PageError> {
    let pages = pages_of(request, results)?;
    Ok(Page { data, page: request.page, pages, results })
}

/// How many pages `results` make, when the page asked for is one of them.
fn pages_of(request: PageRequest, results: u64) -> Result<u64, PageError> {
    if request.page == 0 {
        return Err(page_number_error());
    }
    if request.page_size == 0 {
        return Err(page_size_error());
    }
    let pages = results.div_ceil(request.page_size).max(1);
    if request.page > pages {
        let there_are = if pages == 1 { "there is 1 page".to_owned() } else { format!("there are {pages} pages") };
        return Err(PageError { reason: format!("page {} is out of range: {there_are}", request.page), field: "page" });
    }
    Ok(pages)
}

impl<T> Page<T> {
    /// Converts every item, for instance from a domain type into its wire form, keeping the counts.
    #[cfg(test)] // Only tests need to convert a page once it is cut.
    pub fn map<U>(self, convert: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(convert).collect(),
            page: self.page,
            pages: self.pages,
            results: self.results,
        }
    }
}

impl Page<Value> {
    /// The list envelope as the real API sends it: `{"data": [...], "page", "pages", "results"}`.
    pub fn into_envelope(self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl fmt::Display for PageError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.reason)
    }
}

impl std::error::Error for PageError {}

fn page_number_error() -> PageError {
    PageError { reason: "page must be a number greater than or equal to 1".to_owned(), field: "page" }
}

fn page_size_error() -> PageError {
    PageError {
        reason: format!("page_size must be a number between {MIN_PAGE_SIZE} and {MAX_PAGE_SIZE}"),
        field: "page_size",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(page: u64, page_size: u64) -> PageRequest {
        PageRequest { page, page_size }
    }

    fn numbers(count: u32) -> Vec<u32> {
        (1..=count).collect()
    }

    fn page_of(count: u32, page: u64, page_size: u64) -> Page<u32> {
        match paginate(numbers(count), request(page, page_size)) {
            Ok(page) => page,
            Err(error) => panic!("page {page} of {count} items was refused: {}", error.reason),
        }
    }

    fn refusal(page: Option<&str>, page_size: Option<&str>) -> PageError {
        match PageRequest::parse(page, page_size) {
            Ok(request) => panic!("{page:?}/{page_size:?} was accepted as {request:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn absent_parameters_default_to_the_first_page_of_one_hundred() {
        assert_eq!(PageRequest::parse(None, None), Ok(request(1, 100)));
        assert_eq!(PageRequest::default(), request(1, 100));
    }

    #[test]
    fn the_cli_parameters_on_every_get_are_accepted() {
        assert_eq!(PageRequest::parse(Some("1"), Some("100")), Ok(request(1, 100)));
        assert_eq!(PageRequest::parse(Some("3"), Some("500")), Ok(request(3, 500)));
        assert_eq!(PageRequest::parse(None, Some("25")), Ok(request(1, 25)));
        assert_eq!(PageRequest::parse(Some("7"), None), Ok(request(7, 100)));
    }

    #[test]
    fn a_page_below_one_or_not_a_number_is_refused() {
        for page in ["0", "-1", "abc", "", "1.5", "1e3", " 2", "18446744073709551616"] {
            let error = refusal(Some(page), None);
            assert_eq!(error.field, "page", "{page:?}");
            assert_eq!(error.reason, "page must be a number greater than or equal to 1", "{page:?}");
        }
    }

    #[test]
    fn a_page_size_outside_25_to_500_or_not_a_number_is_refused() {
        for page_size in ["24", "501", "0", "-25", "abc", "", "100.0", "18446744073709551616"] {
            let error = refusal(None, Some(page_size));
            assert_eq!(error.field, "page_size", "{page_size:?}");
            assert_eq!(error.reason, "page_size must be a number between 25 and 500", "{page_size:?}");
        }
    }

    #[test]
    fn a_bad_page_is_reported_before_a_bad_page_size() {
        assert_eq!(refusal(Some("0"), Some("1")).field, "page");
    }

    #[test]
    fn an_empty_list_has_one_empty_page() {
        let page = page_of(0, 1, 100);
        assert_eq!(page, Page { data: vec![], page: 1, pages: 1, results: 0 });
        // The recorded real response for an empty list, byte for byte.
        assert_eq!(page.map(Value::from).into_envelope().to_string(), r#"{"data":[],"page":1,"pages":1,"results":0}"#);
    }

    #[test]
    fn an_empty_list_has_no_second_page() {
        let error = paginate(Vec::<u32>::new(), request(2, 100)).expect_err("there is only one page");
        assert_eq!(error, PageError { reason: "page 2 is out of range: there is 1 page".to_owned(), field: "page" });
    }

    #[test]
    fn an_exact_multiple_fills_every_page() {
        let last = page_of(50, 2, 25);
        assert_eq!(last.data, (26..=50).collect::<Vec<_>>());
        assert_eq!((last.page, last.pages, last.results), (2, 2, 50));
        let error = paginate(numbers(50), request(3, 25)).expect_err("50 items make 2 pages of 25");
        assert_eq!(error.reason, "page 3 is out of range: there are 2 pages");
        assert_eq!(error.field, "page");
    }

    #[test]
    fn the_last_page_may_be_partial() {
        let first = page_of(60, 1, 25);
        assert_eq!(first.data, numbers(25));
        assert_eq!((first.pages, first.results), (3, 60));
        let last = page_of(60, 3, 25);
        assert_eq!(last.data, (51..=60).collect::<Vec<_>>());
        assert_eq!((last.page, last.pages, last.results), (3, 3, 60));
    }

    #[test]
    fn fewer_items_than_a_page_make_one_page() {
        let page = page_of(7, 1, 100);
        assert_eq!(page, Page { data: numbers(7), page: 1, pages: 1, results: 7 });
    }

    #[test]
    fn a_huge_page_number_is_out_of_range_without_overflowing() {
        let parsed = PageRequest::parse(Some("18446744073709551615"), Some("500")).expect("u64::MAX is a number");
        let error = paginate(numbers(1000), parsed).expect_err("1000 items make 2 pages of 500");
        assert_eq!(error.reason, "page 18446744073709551615 is out of range: there are 2 pages");
        assert!(paginate(numbers(3), request(u64::MAX, u64::MAX)).is_err());
    }

    #[test]
    fn a_huge_page_size_set_directly_is_one_page() {
        let page = page_of(3, 1, u64::MAX);
        assert_eq!(page, Page { data: numbers(3), page: 1, pages: 1, results: 3 });
    }

    #[test]
    fn a_zero_page_or_page_size_set_directly_is_refused_not_divided_by() {
        assert_eq!(paginate(numbers(3), request(0, 25)).expect_err("page 0").field, "page");
        assert_eq!(paginate(numbers(3), request(1, 0)).expect_err("page_size 0").field, "page_size");
    }

    #[test]
    fn the_envelope_has_the_shape_clients_expect() {
        let page = paginate(vec![json!({"id": 1}), json!({"id": 2})], request(1, 25)).expect("one page");
        assert_eq!(page.into_envelope(), json!({"data": [{"id": 1}, {"id": 2}], "page": 1, "pages": 1, "results": 2}));
    }

    #[test]
    fn errors_display_their_reason() {
        assert_eq!(refusal(Some("0"), None).to_string(), "page must be a number greater than or equal to 1");
    }
}
