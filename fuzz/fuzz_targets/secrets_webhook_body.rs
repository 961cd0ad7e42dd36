//! amoCRM's secrets delivery as the route reads it (JSON or form by content type): a delivery
//! or a 400, never a panic. The first byte picks the content type.
#![no_main]

use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [&str; 5] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "",
    "application/json; charset=utf-8",
];

fuzz_target!(|data: &[u8]| {
    let Some((first, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(*first) % CONTENT_TYPES.len()];
    if let Err(e) = web::routes::parse_secrets_body(content_type, body) {
        assert_eq!(e.problem().status.as_u16(), 400);
    }
});
