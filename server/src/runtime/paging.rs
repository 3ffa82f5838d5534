//! The paging rules of every list call, for both API edges (gRPC and the AWS JSON API):
//! `maxResults` (absent or 0: 100; at most 1,000) and `nextToken`.
//!
//! Two kinds of token. A machine's executions are paged by a cursor: the token names the
//! index position of the last execution returned (`c` and hex; opaque to callers), so
//! executions that start or end between two pages neither shift nor repeat the ones
//! that follow. The other lists are paged by offset (the token is the index of the next
//! item): a history only grows at its end, and machines and activities are few.

use super::RuntimeError;

/// Items in a page when the caller does not say.
const DEFAULT_PAGE: usize = 100;
/// The most items a caller may ask for in one page (AWS's limit).
const MAX_PAGE: usize = 1000;

/// What a list call asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items at most.
    pub size: usize,
    /// The caller's `nextToken`, if any.
    pub token: Option<String>,
}

impl PageRequest {
    /// Checks a caller's `maxResults` and `nextToken` (empty: none).
    pub fn new(max_results: u64, token: Option<&str>) -> Result<PageRequest, RuntimeError> {
        let size = match max_results {
            0 => DEFAULT_PAGE,
            n if n <= MAX_PAGE as u64 => n as usize,
            _ => {
                return Err(RuntimeError::InvalidArgument(format!(
                    "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to {MAX_PAGE}"
                )));
            }
        };
        Ok(PageRequest {
            size,
            token: token.filter(|t| !t.is_empty()).map(str::to_string),
        })
    }

    /// The first page of `size` items.
    pub fn first(size: usize) -> PageRequest {
        PageRequest { size, token: None }
    }

    /// A page of `items` from the offset in the token, cut once the items' sizes
    /// (`size_of`) would pass `budget` (at least one item a page, so a page of large
    /// items stays under what a gRPC client accepts in one message). Returns the page
    /// and the token of the next one.
    pub fn by_offset<T>(
        &self,
        items: Vec<T>,
        size_of: impl Fn(&T) -> usize,
        budget: usize,
    ) -> Result<(Vec<T>, Option<String>), RuntimeError> {
        let start: usize = match &self.token {
            None => 0,
            Some(token) => token.parse().map_err(|_| invalid(token))?,
        };
        let total = items.len();
        let mut used = 0usize;
        let mut page: Vec<T> = Vec::new();
        for item in items.into_iter().skip(start).take(self.size) {
            let bytes = size_of(&item);
            if !page.is_empty() && used.saturating_add(bytes) > budget {
                break;
            }
            used = used.saturating_add(bytes);
            page.push(item);
        }
        let next = (start + page.len() < total).then(|| (start + page.len()).to_string());
        Ok((page, next))
    }

    /// The index position a cursor token names.
    pub fn cursor(&self) -> Result<Option<Vec<u8>>, RuntimeError> {
        let Some(token) = &self.token else {
            return Ok(None);
        };
        let hex = token.strip_prefix('c').ok_or_else(|| invalid(token))?;
        if hex.is_empty() || hex.len() % 2 != 0 {
            return Err(invalid(token));
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| invalid(token)))
            .collect::<Result<Vec<u8>, _>>()
            .map(Some)
    }
}

/// The token naming an index position.
pub fn cursor_token(position: &[u8]) -> String {
    let mut token = String::with_capacity(1 + position.len() * 2);
    token.push('c');
    for byte in position {
        token.push_str(&format!("{byte:02x}"));
    }
    token
}

fn invalid(token: &str) -> RuntimeError {
    // AWS answers InvalidToken; the token is quoted short, as a caller may send anything.
    let shown: String = token.chars().take(100).collect();
    RuntimeError::InvalidToken(format!("'{shown}' is not a token this server issued"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_follow_aws() {
        assert_eq!(PageRequest::new(0, None).unwrap().size, 100);
        assert_eq!(PageRequest::new(1000, Some("")).unwrap().token, None);
        let err = PageRequest::new(1001, None).unwrap_err();
        assert_eq!(err.aws_code(), "ValidationException");
        assert!(
            err.to_string().contains("less than or equal to 1000"),
            "{err}"
        );
    }

    #[test]
    fn offsets_page_through_a_list_and_respect_a_byte_budget() {
        let request = PageRequest::new(2, None).unwrap();
        let (page, next) = request.by_offset(vec![1, 2, 3], |_| 0, usize::MAX).unwrap();
        assert_eq!((page, next.as_deref()), (vec![1, 2], Some("2")));
        let request = PageRequest::new(2, Some("2")).unwrap();
        let (page, next) = request.by_offset(vec![1, 2, 3], |_| 0, usize::MAX).unwrap();
        assert_eq!((page, next), (vec![3], None));
        // One item over the budget still makes a page of one.
        let request = PageRequest::new(10, None).unwrap();
        let (page, next) = request.by_offset(vec![5, 5, 5], |n| *n, 7).unwrap();
        assert_eq!((page, next.as_deref()), (vec![5], Some("1")));
        let err = PageRequest::new(1, Some("x"))
            .unwrap()
            .by_offset(vec![1], |_| 0, 1)
            .unwrap_err();
        assert_eq!(err.aws_code(), "InvalidToken");
    }

    #[test]
    fn cursors_round_trip_and_foreign_tokens_are_refused() {
        let position = [0u8, 0xff, 0x10];
        let token = cursor_token(&position);
        let request = PageRequest::new(1, Some(&token)).unwrap();
        assert_eq!(request.cursor().unwrap(), Some(position.to_vec()));
        for foreign in ["5", "c", "c0", "czz", "x00"] {
            let err = PageRequest::new(1, Some(foreign))
                .unwrap()
                .cursor()
                .unwrap_err();
            assert_eq!(err.aws_code(), "InvalidToken", "{foreign}");
        }
    }
}
