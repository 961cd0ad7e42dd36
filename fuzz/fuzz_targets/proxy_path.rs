//! The proxy's path and query guard: an accepted path stays under `/api/v4/` on the account
//! host exactly as written.
#![no_main]

use amocrm::ForwardRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, Option<&str>)| {
    let (path, query) = input;
    let request = ForwardRequest {
        method: actix_web::http::Method::GET.as_str().parse().expect("GET"),
        path: path.to_owned(),
        query: query.map(str::to_owned),
        headers: Default::default(),
        body: Default::default(),
    };
    if request.validate().is_ok() {
        assert!(path.starts_with("/api/v4/"));
        let mut url = url::Url::parse("https://acme.amocrm.ru/").expect("base");
        url.set_path(path);
        url.set_query(query);
        assert_eq!(url.host_str(), Some("acme.amocrm.ru"));
        assert_eq!(url.path(), path);
        assert_eq!(url.query(), query);
        assert!(!path.split('/').any(|s| s == "." || s == ".."));
    }
});
