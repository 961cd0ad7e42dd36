//! Property tests of the proxy path guard (security.md §3.6, the tenant proxy).

use proptest::prelude::*;
use url::Url;

use super::*;

fn request(path: String, query: Option<String>, method: Method) -> ForwardRequest {
    ForwardRequest {
        method,
        path,
        query,
        headers: HeaderMap::new(),
        body: Bytes::new(),
    }
}

fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,15}"
        .prop_filter("not a dot segment", |s| s != "." && s != "..")
}

fn api_path() -> impl Strategy<Value = String> {
    prop::collection::vec(segment(), 1..6)
        .prop_map(|segments| format!("/api/v4/{}", segments.join("/")))
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Whatever the tenant sends, an accepted path is an `/api/v4/` path that the URL parser
    /// leaves exactly as it is on the account host: no traversal, no host change, no query.
    #[test]
    fn accepted_paths_stay_under_the_api_prefix(path in any::<String>(), query in prop::option::of(any::<String>())) {
        let req = request(path.clone(), query.clone(), Method::GET);
        if req.validate().is_ok() {
            prop_assert!(path.starts_with("/api/v4/"));
            let mut url = Url::parse("https://acme.amocrm.ru/").expect("base");
            url.set_path(&path);
            url.set_query(query.as_deref());
            prop_assert_eq!(url.host_str(), Some("acme.amocrm.ru"));
            prop_assert_eq!(url.path(), path.as_str());
            prop_assert_eq!(url.query(), query.as_deref());
            prop_assert!(url.fragment().is_none());
            prop_assert!(!path.split('/').any(|s| s == "." || s == ".."));
        }
    }

    #[test]
    fn well_formed_api_paths_are_accepted(path in api_path(), method in method(), query in prop::option::of("[a-z]{1,8}=(%[0-9A-Fa-f]{2}|[A-Za-z0-9\\[\\]]){0,20}")) {
        prop_assert!(request(path.clone(), query, method).validate().is_ok(), "{}", path);
    }

    /// Inserting a traversal, escape or separator trick anywhere after the prefix is refused.
    #[test]
    fn tricks_inside_a_valid_path_are_refused(
        path in api_path(),
        trick in prop::sample::select(vec![
            "/..", "/.", "//", "%2e%2e", "%2f", "\\", "?", "#", " ", "\r\n", "@", ":", "\0", "ü", "/../..",
        ]),
        at in any::<prop::sample::Index>(),
    ) {
        let start = "/api/v4/".len();
        let at = start + at.index(path.len() - start + 1);
        let mut tampered = path.clone();
        tampered.insert_str(at, trick);
        // `/.` or `/..` followed by a segment character starts an ordinary segment (`.x`, `..x`).
        let next = tampered[at + trick.len()..].chars().next();
        let harmless = matches!(trick, "/." | "/..") && at > start && next.is_some_and(|c| c != '/');
        if !harmless {
            prop_assert!(request(tampered.clone(), None, Method::GET).validate().is_err(), "accepted {:?}", tampered);
        }
    }

    /// Only the six ordinary methods cross.
    #[test]
    fn unusual_methods_are_refused(name in "[A-Z]{3,10}") {
        let method = Method::from_bytes(name.as_bytes()).expect("token");
        let ordinary = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"].contains(&name.as_str());
        prop_assert_eq!(request("/api/v4/leads".into(), None, method).validate().is_ok(), ordinary);
    }

    /// A `%` that does not start a two-digit hex escape is refused wherever it is.
    #[test]
    fn malformed_escapes_in_queries_are_refused(before in "[a-z=&]{0,10}", after in "([g-z]|[0-9a-f][g-z]|)") {
        let query = format!("{before}%{after}");
        prop_assert!(request("/api/v4/leads".into(), Some(query), Method::GET).validate().is_err());
    }
}
