//! Rules for attachment files: which file names are accepted, the one
//! `Content-Type` an attachment is served with (a short allow-list, never
//! anything a browser would render as a page), and `Content-Disposition`.

/// Types served as themselves; anything else is `application/octet-stream`.
const SAFE_TYPES: [&str; 7] = [
    "text/plain; charset=utf-8",
    "image/png",
    "image/jpeg",
    "image/gif",
    "application/json",
    "application/gzip",
    "application/zip",
];

pub const OCTET_STREAM: &str = "application/octet-stream";

/// A file name of 1–255 characters without `/`, `\`, NUL or control
/// characters, and not `.` or `..`. Bidirectional embeddings, overrides and
/// isolates are refused too: with U+202E, `invoice\u{202E}fdp.exe` is
/// shown as "invoiceexe.pdf".
pub fn parse_filename(name: &str) -> Result<&str, String> {
    let len = name.chars().count();
    if len == 0 || len > 255 {
        return Err("filename must be 1 to 255 characters.".into());
    }
    if name.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err("filename must not contain '/', '\\' or control characters.".into());
    }
    if name.chars().any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')) {
        return Err("filename must not contain bidirectional override characters.".into());
    }
    if name == "." || name == ".." {
        return Err("filename must not be '.' or '..'.".into());
    }
    Ok(name)
}

/// The allowed type for a declared media type (parameters ignored).
fn from_mime(declared: &str) -> Option<&'static str> {
    let mime = declared.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "text/plain" => Some(SAFE_TYPES[0]),
        "application/x-gzip" => Some("application/gzip"),
        "application/x-zip-compressed" => Some("application/zip"),
        "image/jpg" => Some("image/jpeg"),
        m => SAFE_TYPES.iter().copied().find(|t| *t == m),
    }
}

fn from_extension(filename: &str) -> Option<&'static str> {
    let ext = filename.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "txt" | "log" => SAFE_TYPES[0],
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "json" => "application/json",
        "gz" | "tgz" => "application/gzip",
        "zip" => "application/zip",
        _ => return None,
    })
}

/// The type an attachment is stored and served with: the request's type if
/// it is on the allow-list, else the one its extension implies, else
/// `application/octet-stream`.
pub fn safe_content_type(declared: Option<&str>, filename: &str) -> &'static str {
    declared.and_then(from_mime).or_else(|| from_extension(filename)).unwrap_or(OCTET_STREAM)
}

/// `attachment; filename="…"` (RFC 6266), with `filename*=UTF-8''…` when
/// the name is not plain ASCII; the quoted fallback replaces what it cannot
/// carry with `_`.
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' { c } else { '_' })
        .collect();
    if fallback == filename {
        return format!("attachment; filename=\"{filename}\"");
    }
    let mut encoded = String::new();
    for byte in filename.bytes() {
        // RFC 5987 attr-char.
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames() {
        assert_eq!(parse_filename("build.log"), Ok("build.log"));
        assert!(parse_filename("écran 1.png").is_ok());
        assert!(parse_filename(&"a".repeat(255)).is_ok());
        assert!(parse_filename("\u{5d3}\u{5d5}\u{5d7}.txt").is_ok(), "right-to-left text itself is fine");
        for bad in
            ["", "a/b", "a\\b", "a\0b", "a\nb", "..", ".", &"a".repeat(256), "invoice\u{202E}fdp.exe", "a\u{2066}b"]
        {
            assert!(parse_filename(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn content_types_are_allow_listed() {
        assert_eq!(safe_content_type(Some("text/html"), "report.html"), OCTET_STREAM);
        assert_eq!(safe_content_type(Some("image/svg+xml"), "x.svg"), OCTET_STREAM);
        assert_eq!(safe_content_type(Some("text/plain; charset=latin1"), "x"), "text/plain; charset=utf-8");
        assert_eq!(safe_content_type(Some("IMAGE/PNG"), "x"), "image/png");
        assert_eq!(safe_content_type(Some("application/octet-stream"), "shot.PNG"), "image/png");
        assert_eq!(safe_content_type(None, "build.log"), "text/plain; charset=utf-8");
        assert_eq!(safe_content_type(Some("text/html"), "page.png"), "image/png");
        assert_eq!(safe_content_type(None, "noext"), OCTET_STREAM);
    }

    #[test]
    fn dispositions() {
        assert_eq!(content_disposition("build.log"), "attachment; filename=\"build.log\"");
        assert_eq!(
            content_disposition("écran 1.png"),
            "attachment; filename=\"_cran 1.png\"; filename*=UTF-8''%C3%A9cran%201.png"
        );
        assert_eq!(content_disposition("a\"b.txt"), "attachment; filename=\"a_b.txt\"; filename*=UTF-8''a%22b.txt");
    }
}
