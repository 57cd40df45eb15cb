//! CSV as spreadsheets read it: RFC 4180 quoting, a header row, the
//! delimiter a Portuguese Excel expects when asked (`;`), an optional
//! byte-order mark, and text cells that a spreadsheet would run as a
//! formula neutralised.

/// How the file is written, from the export's query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    pub delimiter: u8,
    /// A UTF-8 byte-order mark first, so that Excel reads the accents.
    pub bom: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: b',',
            bom: false,
        }
    }
}

impl CsvOptions {
    /// Reads `delimiter` (`,`, `;` or `tab`) and `bom` (`true` or `false`).
    pub fn parse(delimiter: Option<&str>, bom: Option<&str>) -> Result<Self, String> {
        let delimiter = match delimiter {
            None | Some(",") => b',',
            Some(";") => b';',
            Some("tab") | Some("\t") => b'\t',
            Some(_) => return Err("`delimiter` must be `,`, `;` or `tab`".to_owned()),
        };
        let bom = match bom {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err("`bom` must be `true` or `false`".to_owned()),
        };
        Ok(CsvOptions { delimiter, bom })
    }
}

/// A text starting with one of these is a formula to a spreadsheet.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `text` is a plain decimal number (as amounts are written), which
/// a spreadsheet reads as a number, not a formula.
fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let mut parts = digits.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// Appends `text` as one field, quoted where it must be, after a `'` when
/// a spreadsheet would run it.
pub(super) fn push_text(out: &mut Vec<u8>, text: &str, delimiter: u8) {
    let inert = text.starts_with(FORMULA_STARTS) && !is_number(text);
    let quote = text
        .bytes()
        .any(|b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r');
    if quote {
        out.push(b'"');
    }
    if inert {
        out.push(b'\'');
    }
    if quote {
        for (index, chunk) in text.split('"').enumerate() {
            if index > 0 {
                out.extend_from_slice(b"\"\"");
            }
            out.extend_from_slice(chunk.as_bytes());
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

/// Appends one record of `fields`, ended by CRLF.
pub fn push_record<'a>(
    out: &mut Vec<u8>,
    fields: impl IntoIterator<Item = &'a str>,
    options: CsvOptions,
) {
    for (index, field) in fields.into_iter().enumerate() {
        if index > 0 {
            out.push(options.delimiter);
        }
        push_text(out, field, options.delimiter);
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        assert!(CsvOptions::parse(Some("|"), None).is_err());
        assert!(CsvOptions::parse(None, Some("yes")).is_err());
        assert_eq!(
            CsvOptions::parse(Some("tab"), None).unwrap().delimiter,
            b'\t'
        );
    }
}
