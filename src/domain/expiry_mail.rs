//! The mail that warns a token's owner before it expires (API.md section
//! 12): which token (its name and preview), what it may do, when it
//! expires, and where to rotate it. Never the secret, which Proctor does
//! not have.

/// What the mail says of the token.
pub struct ExpiringToken<'a> {
    pub name: &'a str,
    pub preview: &'a str,
    /// `pat` or `key`.
    pub kind: &'a str,
    pub permissions: &'a [&'static str],
    /// The key's project, if it is one.
    pub project: Option<&'a str>,
    /// RFC 3339.
    pub expires_at: &'a str,
    /// 7 or 1.
    pub days: u32,
}

/// The subject and the plain-text body; `base` is the server's URL, if known.
pub fn expiry_mail(t: &ExpiringToken, base: Option<&str>) -> (String, String) {
    let when = if t.days == 1 { "within a day".to_string() } else { format!("within {} days", t.days) };
    let what = match t.project {
        Some(project) => format!("The API key {:?} of project {project}", t.name),
        None => format!("Your personal access token {:?}", t.name),
    };
    let place = match t.project {
        Some(project) => format!("/projects/{project}/settings"),
        None => "/settings/tokens".to_string(),
    };
    let rotate = match base {
        Some(base) => format!("{}{place}", base.trim_end_matches('/')),
        None => format!("Proctor, under {place}"),
    };
    let subject = format!("[Proctor] {} {} expires {when}", if t.kind == "key" { "API key" } else { "Token" }, t.name);
    let body = format!(
        "{what} ({preview}) expires {when}, at {at}.\n\n\
         It may: {perms}.\n\n\
         Anything that uses it (a CI job, a script) stops working then. Rotate it to get a new secret,\n\
         and put the new one where the old one is used:\n\n    {rotate}\n\n\
         (This mail never contains a secret. If you did not expect it, tell your Proctor administrator.)\n",
        preview = t.preview,
        at = t.expires_at,
        perms = t.permissions.join(", "),
    );
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_names_the_token_its_scopes_its_expiry_and_where_to_rotate() {
        let t = ExpiringToken {
            name: "CI upload",
            preview: "prc_key_a1B2…x9Y8",
            kind: "key",
            permissions: &["runs:write"],
            project: Some("web"),
            expires_at: "2026-12-10T00:00:00Z",
            days: 7,
        };
        let (subject, body) = expiry_mail(&t, Some("https://proctor.example.com/"));
        assert_eq!(subject, "[Proctor] API key CI upload expires within 7 days");
        for needle in [
            "\"CI upload\" of project web",
            "prc_key_a1B2…x9Y8",
            "2026-12-10T00:00:00Z",
            "runs:write",
            "https://proctor.example.com/projects/web/settings",
        ] {
            assert!(body.contains(needle), "{needle} in {body}");
        }
        let pat = ExpiringToken { kind: "pat", project: None, days: 1, ..t };
        let (subject, body) = expiry_mail(&pat, None);
        assert_eq!(subject, "[Proctor] Token CI upload expires within a day");
        assert!(body.contains("Your personal access token") && body.contains("/settings/tokens"));
    }
}
