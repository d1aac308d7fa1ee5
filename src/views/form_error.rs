//! A form sent back with an error: the sentence shown above the form, and
//! the field it is about, which the form marks and ties to it.
//!
//! The sentence is focused and announced (`role="alert"`); when it is about
//! one field, it is a link to that field, and the field carries
//! `aria-invalid` and the sentence's id in `aria-describedby`, so a screen
//! reader reads the error again on reaching the field.

use crate::error::AppError;

/// The `id` of the error's sentence above the form.
pub const ERROR_ID: &str = "form-error";
/// The `id` of the field the error is about (one error, one field at a time).
pub const INVALID_ID: &str = "invalid-field";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormError {
    pub sentence: String,
    /// The form field's `name` the error is about, if it is about one.
    pub field: Option<&'static str>,
}

impl FormError {
    /// A refusal as a form shows it, with the field the error names.
    pub fn of(e: &AppError) -> FormError {
        FormError { sentence: e.form_sentence(), field: e.field() }
    }

    /// An error about the whole form (a failed login), not one field.
    pub fn general(sentence: impl Into<String>) -> FormError {
        FormError { sentence: sentence.into(), field: None }
    }

    /// A refusal of a table row's own form (one action on one account, key
    /// or role): shown with no field marked, since the page's add form has
    /// fields of the same names.
    pub fn of_row(e: &AppError) -> FormError {
        FormError::general(e.form_sentence())
    }
}

/// The attributes of the form field named `name`, written after its other
/// attributes: when `error` is about it, `aria-invalid`, the error's id in
/// `aria-describedby` before `help` (the id of the field's own help text,
/// or empty), and the id the error links to; otherwise only `help`.
pub fn field_attrs(error: &Option<FormError>, name: &str, help: &'static str) -> String {
    let described = |ids: &str| if ids.is_empty() { String::new() } else { format!(r#" aria-describedby="{ids}""#) };
    if is_about(error, name) {
        let ids = if help.is_empty() { ERROR_ID.to_string() } else { format!("{ERROR_ID} {help}") };
        format!(r#" id="{INVALID_ID}" aria-invalid="true"{}"#, described(&ids))
    } else {
        described(help)
    }
}

/// The attributes of a `<fieldset>` of checkboxes named `name`: when
/// `error` is about them, the error's id in `aria-describedby` and the id
/// the error links to (focusable by the link, not by Tab).
pub fn group_attrs(error: &Option<FormError>, name: &str) -> String {
    if is_about(error, name) {
        format!(r#" id="{INVALID_ID}" tabindex="-1" aria-describedby="{ERROR_ID}""#)
    } else {
        String::new()
    }
}

fn is_about(error: &Option<FormError>, name: &str) -> bool {
    error.as_ref().and_then(|e| e.field).is_some_and(|f| f == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_field_the_error_names_is_marked() {
        let error = Some(FormError { sentence: "url is required.".into(), field: Some("url") });
        assert_eq!(
            field_attrs(&error, "url", "url-help"),
            r#" id="invalid-field" aria-invalid="true" aria-describedby="form-error url-help""#
        );
        assert_eq!(field_attrs(&error, "name", ""), "");
        assert_eq!(field_attrs(&error, "format", "format-help"), r#" aria-describedby="format-help""#);
        assert_eq!(field_attrs(&None, "url", ""), "");
        let general = Some(FormError::general("Email or password is wrong."));
        assert_eq!(field_attrs(&general, "email", ""), "");
    }

    #[test]
    fn a_group_is_tied_to_the_error_without_taking_a_tab_stop() {
        let error = Some(FormError { sentence: "Choose at least one permission.".into(), field: Some("permission") });
        assert_eq!(
            group_attrs(&error, "permission"),
            r#" id="invalid-field" tabindex="-1" aria-describedby="form-error""#
        );
        assert_eq!(group_attrs(&error, "event"), "");
    }
}
