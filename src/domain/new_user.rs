//! A new user's details, each checked by its rule: what setup, the admin
//! page, the API and the offline CLI all accept, written once.

use crate::domain::names::{DisplayName, Email};
use crate::domain::password;

/// A user's email, name and password, valid but not yet hashed.
#[derive(Debug)]
pub struct NewUser {
    pub email: Email,
    pub name: DisplayName,
    pub password: String,
}

/// The first rule a new user's details break, as a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidUser(pub String);

impl NewUser {
    pub fn parse(email: &str, name: &str, password: String) -> Result<NewUser, InvalidUser> {
        let email = Email::parse(email).map_err(|e| InvalidUser(e.to_string()))?;
        let name = DisplayName::parse(name).map_err(|e| InvalidUser(e.to_string()))?;
        password::check_rules(&password).map_err(|e| InvalidUser(e.to_string()))?;
        Ok(NewUser { email, name, password })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_is_checked_in_order() {
        let ok = NewUser::parse(" Ada@Example.com ", " Ada ", "a long enough passphrase".into()).unwrap();
        assert_eq!((ok.email.as_str(), ok.name.as_str()), ("ada@example.com", "Ada"));
        assert!(NewUser::parse("ada", "Ada", "a long enough passphrase".into()).unwrap_err().0.contains("email"));
        assert_eq!(
            NewUser::parse("a@x.org", " ", "a long enough passphrase".into()).unwrap_err().0,
            "Name must not be empty."
        );
        assert!(NewUser::parse("a@x.org", "Ada", "short".into()).is_err());
    }
}
