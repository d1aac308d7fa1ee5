//! The API's page cursors (`routes::api::PageQuery`, `cursor`): the
//! `?limit=&cursor=` query read as actix reads it, any key round-trips
//! through its cursor, and a cursor that decodes is the one that key gives
//! (one cursor per position, so pages cannot be asked for twice over).
#![no_main]

use actix_web::web::Query;
use libfuzzer_sys::fuzz_target;
use proctor::routes::api::{cursor, PageQuery, MAX_LIMIT};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    let page = PageQuery { limit: None, cursor: Some(cursor(text)) };
    assert_eq!(page.after().ok(), Some(Some(text.to_owned())), "{text:?} did not round-trip");

    let given = PageQuery { limit: None, cursor: Some(text.to_owned()) };
    if let Ok(Some(key)) = given.after() {
        assert_eq!(cursor(&key), text, "two cursors decode to {key:?}");
    }

    if let Ok(query) = Query::<PageQuery>::from_query(text) {
        if let Ok(limit) = query.limit() {
            assert!((1..=MAX_LIMIT).contains(&limit));
        }
        let _ = query.after();
    }
});
