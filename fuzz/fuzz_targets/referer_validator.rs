//! The `referer` allow-list (R17): an accepted host is exactly what the URL parser reads back,
//! on the default port, without userinfo or path, under an allowed suffix.
#![no_main]

use amocrm::{AccountHost, DomainAllowList};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let allow = DomainAllowList::default();
    if let Ok(host) = AccountHost::parse(raw, &allow) {
        let url = url::Url::parse(&format!("https://{}/oauth2/access_token", host.as_str()))
            .expect("an accepted host forms a URL");
        assert_eq!(url.host_str(), Some(raw));
        assert_eq!(url.port(), None);
        assert!(url.username().is_empty() && url.password().is_none());
        assert_eq!(url.path(), "/oauth2/access_token");
        assert_eq!(format!("{}.{}", host.subdomain(), host.base_domain()), raw);
    }
});
