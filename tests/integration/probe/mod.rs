//! Regression tests for what the black-box security probe found (issue 8):
//! each fails on the code before its fix.

mod accounts;
mod input;
mod misplaced_secrets;
mod visibility;
