//! A value a rule refuses, with the request's field at fault: what the
//! checks of a quarantine rule, a webhook, a trusted publisher and a new
//! user answer. The API answers the sentence; a page marks the field.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// The field as the API names it (a page's form uses the same name).
    pub field: &'static str,
    /// A sentence that names the field too.
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> FieldError {
        FieldError { field, message: message.into() }
    }
}
