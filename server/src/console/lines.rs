//! Where a diagnostic points in the text the user typed: validation names fields by JSON
//! Pointer (`/States/Choose/Choices/1/Next`); the editor needs a line and column.

/// The 1-based line and column of the member or element `pointer` names in `text`
/// (its key, for an object member); `None` if the text does not parse that far or the
/// pointer names nothing in it. The empty pointer is the whole document.
pub fn position_of(text: &str, pointer: &str) -> Option<(usize, usize)> {
    let target: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        pointer
            .strip_prefix('/')?
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect()
    };
    let mut scan = Scan {
        text: text.as_bytes(),
        at: 0,
        target: &target,
        found: None,
    };
    let mut path = Vec::new();
    scan.value(&mut path);
    scan.found.map(|offset| line_and_column(text, offset))
}

/// The 1-based line and column of a byte offset.
pub fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

struct Scan<'a> {
    text: &'a [u8],
    at: usize,
    target: &'a [String],
    found: Option<usize>,
}

impl Scan<'_> {
    fn skip_space(&mut self) {
        while self.at < self.text.len() && self.text[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn mark(&mut self, path: &[String], offset: usize) {
        if self.found.is_none() && path == self.target {
            self.found = Some(offset);
        }
    }

    /// Reads one value; returns false where the text stops making sense.
    fn value(&mut self, path: &mut Vec<String>) -> bool {
        self.skip_space();
        self.mark(path, self.at);
        if self.found.is_some() {
            return false;
        }
        match self.peek() {
            Some(b'{') => {
                self.at += 1;
                loop {
                    self.skip_space();
                    match self.peek() {
                        Some(b'}') => {
                            self.at += 1;
                            return true;
                        }
                        Some(b'"') => {}
                        _ => return false,
                    }
                    let key_at = self.at;
                    let Some(key) = self.string() else {
                        return false;
                    };
                    path.push(key);
                    self.mark(path, key_at);
                    self.skip_space();
                    if self.peek() != Some(b':') {
                        return false;
                    }
                    self.at += 1;
                    let ok = self.found.is_none() && self.value(path);
                    path.pop();
                    if !ok {
                        return false;
                    }
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {}
                        _ => return false,
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut index = 0usize;
                loop {
                    self.skip_space();
                    if self.peek() == Some(b']') {
                        self.at += 1;
                        return true;
                    }
                    path.push(index.to_string());
                    let ok = self.value(path);
                    path.pop();
                    if !ok {
                        return false;
                    }
                    index += 1;
                    self.skip_space();
                    match self.peek() {
                        Some(b',') => self.at += 1,
                        Some(b']') => {}
                        _ => return false,
                    }
                }
            }
            Some(b'"') => self.string().is_some(),
            Some(_) => {
                let start = self.at;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace() {
                        break;
                    }
                    self.at += 1;
                }
                self.at > start
            }
            None => false,
        }
    }

    /// Reads a string literal, decoded.
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        self.at += 1;
        while let Some(c) = self.peek() {
            match c {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    let literal = std::str::from_utf8(self.text.get(start..self.at)?).ok()?;
                    return serde_json::from_str(literal).ok();
                }
                _ => self.at += 1,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"{
  "StartAt": "A",
  "States": {
    "A": {"Type": "Pass", "Next": "B"},
    "a/b~c": {"Type": "Choice",
      "Choices": [
        {"Variable": "$.x", "IsPresent": true, "Next": "A"},
        {"Variable": "$.y", "IsPresent": true, "Next": "Nowhere"}
      ]}
  }
}"#;

    #[test]
    fn pointers_find_their_member_line_and_column() {
        assert_eq!(position_of(TEXT, ""), Some((1, 1)));
        assert_eq!(position_of(TEXT, "/StartAt"), Some((2, 3)));
        assert_eq!(position_of(TEXT, "/States/A/Next"), Some((4, 27)));
        assert_eq!(
            position_of(TEXT, "/States/a~1b~0c/Choices/1/Next"),
            Some((8, 48))
        );
        assert_eq!(position_of(TEXT, "/States/a~1b~0c/Choices/1"), Some((8, 9)));
    }

    #[test]
    fn missing_members_and_broken_text_give_none() {
        assert_eq!(position_of(TEXT, "/States/Missing"), None);
        assert_eq!(position_of(TEXT, "States"), None);
        assert_eq!(position_of(r#"{"a": [1, 2"#, "/b"), None);
        assert_eq!(position_of("", "/a"), None);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "{\"é\": {\"x\": 1}}";
        assert_eq!(position_of(text, "/é/x"), Some((1, 8)));
    }
}
