//! The interface's languages: a Fluent message catalogue (English and Russian, embedded in the
//! binary from `locales/`), the language and time zone chosen for the current request, and the
//! helpers templates call to print messages, dates and numbers.
//!
//! The language of a request is decided once, by [`middleware`]: the signed-in user's choice kept
//! in their session, else the `amolink_lang` cookie the switch sets, else `Accept-Language`, else
//! English. It is carried to the templates in a task-local for the request's future: views,
//! error pages and extractors render inside that future, so none of the ~60 handlers has to pass
//! it along, and code outside a request (mail sent by a background task) falls back to English.

use std::{borrow::Cow, collections::HashMap, sync::LazyLock};

use actix_session::SessionExt as _;
use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue, concurrent::FluentBundle};
use unic_langid::LanguageIdentifier;

/// The cookie the language switch sets (a year; not a secret, readable by scripts is fine).
pub const LANG_COOKIE: &str = "amolink_lang";
/// The cookie `app.js` sets from the browser's time zone when the user saved none.
pub const TZ_COOKIE: &str = "amolink_tz";
/// Session keys holding a signed-in user's choices (copied from their profile at sign-in).
pub const SESSION_LANG: &str = "lang";
pub const SESSION_TZ: &str = "tz";

/// How a message id with no text is printed, so a test walking the pages can find it.
pub const MISSING_MARK: &str = "⟦missing:";

/// A language of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, strum::EnumString, strum::AsRefStr)]
#[strum(serialize_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Ru,
}

impl Lang {
    pub const ALL: [Self; 2] = [Self::En, Self::Ru];

    /// The BCP 47 tag, for `<html lang>` and the cookie.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Ru => "ru",
        }
    }

    /// `ru`, `ru-RU`, `EN`… → a language we have; anything else → `None`.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        let primary = value.split(['-', '_']).next().unwrap_or_default();
        primary.to_ascii_lowercase().parse().ok()
    }

    /// The best of our languages for an `Accept-Language` header, if any is acceptable.
    #[must_use]
    pub fn from_accept_language(header: &str) -> Option<Self> {
        accept_language::intersection_ordered(header, &["en", "ru"])
            .first()
            .and_then(|tag| Self::parse(tag))
    }
}

/// The language and time zone of the current request, and its path (for the switch's return).
#[derive(Debug, Clone)]
pub struct Locale {
    pub lang: Lang,
    pub tz: Tz,
    pub path: String,
}

impl Default for Locale {
    fn default() -> Self {
        Self {
            lang: Lang::En,
            tz: Tz::UTC,
            path: "/".to_owned(),
        }
    }
}

tokio::task_local! {
    static LOCALE: Locale;
}

/// The locale of the request being served (English and UTC outside a request).
#[must_use]
pub fn current() -> Locale {
    LOCALE.try_with(Clone::clone).unwrap_or_default()
}

#[must_use]
pub fn lang() -> Lang {
    LOCALE.try_with(|l| l.lang).unwrap_or_default()
}

/// Runs `f` as if serving a request in `locale` (mail rendered for its recipient, tests).
pub async fn scope<F: Future>(locale: Locale, f: F) -> F::Output {
    LOCALE.scope(locale, f).await
}

/// Chooses the request's language and time zone and serves it inside them.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let locale = resolve(&req);
    let response = LOCALE.scope(locale.clone(), next.call(req)).await?;
    Ok(response.map_body(|head, body| {
        head.headers_mut().insert(
            header::CONTENT_LANGUAGE,
            header::HeaderValue::from_static(locale.lang.code()),
        );
        body
    }))
}

fn resolve(req: &ServiceRequest) -> Locale {
    let session = req.get_session();
    let from_session = session.get::<String>(SESSION_LANG).ok().flatten();
    let lang = from_session
        .as_deref()
        .and_then(Lang::parse)
        .or_else(|| req.cookie(LANG_COOKIE).and_then(|c| Lang::parse(c.value())))
        .or_else(|| {
            req.headers()
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or_default();
    let tz = session
        .get::<String>(SESSION_TZ)
        .ok()
        .flatten()
        .and_then(|name| name.parse::<Tz>().ok())
        .or_else(|| {
            req.cookie(TZ_COOKIE).and_then(|c| {
                percent_encoding::percent_decode_str(c.value())
                    .decode_utf8()
                    .ok()
                    .and_then(|name| name.parse::<Tz>().ok())
            })
        })
        .unwrap_or(Tz::UTC);
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    Locale { lang, tz, path }
}

/// Makes a signed-in user's saved choices the session's (called at sign-in and on saving them):
/// they then outrank the browser's cookie and `Accept-Language`.
///
/// # Errors
/// When the session cannot be written.
pub fn remember(
    session: &actix_session::Session,
    preferences: &domain::accounts::Preferences,
) -> Result<(), actix_session::SessionInsertError> {
    match preferences.language {
        Some(language) => session.insert(SESSION_LANG, language.as_str())?,
        None => {
            session.remove(SESSION_LANG);
        }
    }
    match &preferences.time_zone {
        Some(zone) => session.insert(SESSION_TZ, zone.as_str())?,
        None => {
            session.remove(SESSION_TZ);
        }
    }
    Ok(())
}

/// Every time zone name people may choose.
#[must_use]
pub fn zone_names() -> Vec<&'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect()
}

/// Every catalogue file, per language; the file names must be the same in both.
macro_rules! catalogue {
    ($($file:literal),* $(,)?) => {
        const EN: &[(&str, &str)] =
            &[$(($file, include_str!(concat!("../../../locales/en/", $file)))),*];
        const RU: &[(&str, &str)] =
            &[$(($file, include_str!(concat!("../../../locales/ru/", $file)))),*];
    };
}

catalogue!(
    "common.ftl",
    "auth.ftl",
    "errors.ftl",
    "settings.ftl",
    "connections.ftl",
    "connect.ftl",
    "pages.ftl",
    "mail.ftl",
    "ux.ftl",
    "messages.ftl",
);

/// The catalogue's source files of one language, `(file name, text)`.
#[must_use]
pub const fn sources(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::En => EN,
        Lang::Ru => RU,
    }
}

struct Catalogue {
    bundles: HashMap<&'static str, FluentBundle<FluentResource>>,
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    let mut bundles = HashMap::new();
    for lang in Lang::ALL {
        let id: LanguageIdentifier = lang.code().parse().unwrap_or_default();
        let mut bundle = FluentBundle::new_concurrent(vec![id]);
        // No bidi isolation marks: both languages are left-to-right, and the marks would
        // end up in copied links and keys.
        bundle.set_use_isolating(false);
        for (file, text) in sources(lang) {
            // A syntax error keeps the entries that parsed; the catalogue test fails on it.
            let resource = FluentResource::try_new((*text).to_owned()).unwrap_or_else(|(r, e)| {
                tracing::error!(file, errors = ?e, "catalogue file has syntax errors");
                r
            });
            if let Err(errors) = bundle.add_resource(resource) {
                tracing::error!(file, ?errors, "catalogue file repeats message ids");
            }
        }
        bundles.insert(lang.code(), bundle);
    }
    Catalogue { bundles }
});

/// The message `id` in `lang` with `args`; a marker naming the id when it has no text.
#[must_use]
pub fn message_in(lang: Lang, id: &str, args: Option<&FluentArgs<'_>>) -> String {
    let Some(bundle) = CATALOGUE.bundles.get(lang.code()) else {
        return format!("{MISSING_MARK}{id}⟧");
    };
    let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
        tracing::warn!(
            id,
            lang = lang.code(),
            "message id missing from the catalogue"
        );
        return format!("{MISSING_MARK}{id}⟧");
    };
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, args, &mut errors);
    if !errors.is_empty() {
        tracing::warn!(
            id,
            lang = lang.code(),
            ?errors,
            "message formatted with errors"
        );
    }
    text.into_owned()
}

/// The message `id` in `lang` with plain-text arguments (tests compare pages with it).
#[must_use]
pub fn text_in(lang: Lang, id: &str, args: &[(&str, &str)]) -> String {
    let mut fluent = FluentArgs::new();
    for (name, value) in args {
        fluent.set(*name, FluentValue::from(*value));
    }
    message_in(lang, id, Some(&fluent))
}

/// Whether `lang`'s catalogue has the message `id`.
#[must_use]
pub fn has_message(lang: Lang, id: &str) -> bool {
    CATALOGUE
        .bundles
        .get(lang.code())
        .is_some_and(|b| b.has_message(id))
}

/// The message `id` in the current request's language.
#[must_use]
pub fn t(id: &str) -> String {
    message_in(lang(), id, None)
}

/// The message `id` with arguments, in the current request's language.
#[must_use]
pub fn t_args<'a>(id: &str, args: impl IntoIterator<Item = (&'a str, FluentValue<'a>)>) -> String {
    let mut fluent = FluentArgs::new();
    for (name, value) in args {
        fluent.set(name, value);
    }
    message_in(lang(), id, Some(&fluent))
}

/// A domain message (`msg-<code>` in the catalogue, its parameters as arguments) in `lang`.
#[must_use]
pub fn domain_message_in(lang: Lang, message: &domain::Message) -> String {
    let mut args = FluentArgs::new();
    for (name, value) in &message.params {
        args.set(*name, FluentValue::from(value.as_str()));
    }
    message_in(lang, &format!("msg-{}", message.code), Some(&args))
}

/// A domain message in the current request's language.
#[must_use]
pub fn domain_message(message: &domain::Message) -> String {
    domain_message_in(lang(), message)
}

/// A message with its parameters, to be rendered in whichever language is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: Cow<'static, str>,
    pub args: Vec<(&'static str, String)>,
}

impl Message {
    #[must_use]
    pub fn new(id: impl Into<Cow<'static, str>>) -> Self {
        Self {
            id: id.into(),
            args: Vec::new(),
        }
    }

    #[must_use]
    pub fn arg(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.args.push((name, value.into()));
        self
    }

    /// The message in the current request's language.
    #[must_use]
    pub fn render(&self) -> String {
        t_args(
            &self.id,
            self.args
                .iter()
                .map(|(name, value)| (*name, FluentValue::from(value.as_str()))),
        )
    }
}

/// A moment for people: in the request's time zone, written the language's way.
#[must_use]
pub fn datetime(at: DateTime<Utc>) -> String {
    let locale = current();
    let local = at.with_timezone(&locale.tz);
    let zone = local.format("%Z").to_string();
    match locale.lang {
        Lang::En => format!("{} {zone}", local.format("%Y-%m-%d %H:%M")),
        Lang::Ru => format!("{} {zone}", local.format("%d.%m.%Y %H:%M")),
    }
}

/// An integer for people: thousands grouped the language's way (`12,345` / `12 345`).
#[must_use]
pub fn number(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let separator = match lang() {
        Lang::En => ",",
        // CLDR's Russian group separator is a no-break space.
        Lang::Ru => "\u{a0}",
    };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(separator);
        }
        out.push(c);
    }
    out
}

/// What the views call to print messages: `{{ t("id") }}` in any template.
///
/// Implemented for every type so that every template struct has it without a field.
pub trait Translate {
    fn t(&self, id: &str) -> String {
        t(id)
    }

    /// Like [`Translate::tp`], but a code with no message prints as itself (open-ended codes
    /// such as an activity's outcome).
    fn tp_or(&self, prefix: &str, key: &str) -> String {
        let id = format!("{prefix}{key}");
        if has_message(lang(), &id) {
            t(&id)
        } else {
            key.to_owned()
        }
    }

    /// Three named arguments.
    #[expect(clippy::too_many_arguments, reason = "a name and a value per argument")]
    fn t3<'a>(
        &self,
        id: &str,
        name: &'a str,
        value: impl Into<FluentValue<'a>>,
        name2: &'a str,
        value2: impl Into<FluentValue<'a>>,
        name3: &'a str,
        value3: impl Into<FluentValue<'a>>,
    ) -> String {
        t_args(
            id,
            [
                (name, value.into()),
                (name2, value2.into()),
                (name3, value3.into()),
            ],
        )
    }

    /// A message chosen by a value: `{{ tp("role-", member.role) }}` prints `role-admin`.
    fn tp(&self, prefix: &str, key: &str) -> String {
        t(&format!("{prefix}{key}"))
    }

    /// A message named after a code with dots (`connection.created` → `hook-connection-created`).
    fn tcode(&self, prefix: &str, code: &str) -> String {
        t(&format!("{prefix}{}", code.replace('.', "-")))
    }

    /// One named argument: `{{ t1("connections-count", "count", rows.len()) }}`.
    fn t1<'a>(&self, id: &str, name: &'a str, value: impl Into<FluentValue<'a>>) -> String {
        t_args(id, [(name, value.into())])
    }

    /// Two named arguments.
    fn t2<'a>(
        &self,
        id: &str,
        name: &'a str,
        value: impl Into<FluentValue<'a>>,
        name2: &'a str,
        value2: impl Into<FluentValue<'a>>,
    ) -> String {
        t_args(id, [(name, value.into()), (name2, value2.into())])
    }

    /// The current language's tag, for `<html lang>`.
    fn lang_code(&self) -> &'static str {
        lang().code()
    }

    /// The time zone dates on this page are shown in.
    fn zone_name(&self) -> &'static str {
        current().tz.name()
    }

    /// Whether the page is in the language tagged `code`.
    fn is_lang(&self, code: &str) -> bool {
        lang().code() == code
    }

    /// Where the language switch returns to: the page being shown.
    fn here(&self) -> String {
        current().path
    }
}

impl<T: ?Sized> Translate for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported() {
        assert_eq!(
            Lang::from_accept_language("ru-RU,ru;q=0.9,en-US;q=0.8"),
            Some(Lang::Ru)
        );
        assert_eq!(
            Lang::from_accept_language("de-DE,en;q=0.5,ru;q=0.4"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("de, fr"), None);
        assert_eq!(Lang::from_accept_language(""), None);
    }

    #[test]
    fn russian_plurals_follow_russian_rules() {
        let count = |n: u32| {
            let mut args = FluentArgs::new();
            args.set("count", n);
            message_in(Lang::Ru, "connections-count", Some(&args))
        };
        assert!(count(1).contains("подключение"), "{}", count(1));
        assert!(count(3).contains("подключения"), "{}", count(3));
        assert!(count(5).contains("подключений"), "{}", count(5));
        assert!(count(21).contains("подключение"), "{}", count(21));
    }

    #[tokio::test]
    async fn numbers_and_dates_follow_the_language_and_zone() {
        let at = DateTime::parse_from_rfc3339("2026-03-01T22:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let ru = Locale {
            lang: Lang::Ru,
            tz: chrono_tz::Europe::Moscow,
            path: "/".to_owned(),
        };
        let (date, n) = scope(ru, async { (datetime(at), number(1_234_567)) }).await;
        assert_eq!(date, "02.03.2026 01:30 MSK");
        assert_eq!(n, "1\u{a0}234\u{a0}567");
        let (date, n) = scope(Locale::default(), async { (datetime(at), number(-1234)) }).await;
        assert_eq!(date, "2026-03-01 22:30 UTC");
        assert_eq!(n, "-1,234");
    }

    #[test]
    fn a_missing_id_is_marked() {
        assert!(message_in(Lang::En, "no-such-message", None).starts_with(MISSING_MARK));
    }
}

/// The catalogue against the code: both languages have the same ids, every file parses, and
/// every id the templates and the web layer name exists.
#[cfg(test)]
mod catalogue_tests {
    use std::{collections::BTreeSet, path::Path};

    use super::*;

    fn ids(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter(|line| line.starts_with(|c: char| c.is_ascii_alphabetic()))
            .filter_map(|line| line.split_once('=').map(|(id, _)| id.trim().to_owned()))
            .collect()
    }

    #[test]
    fn both_languages_have_the_same_ids_and_parse() {
        for ((en_file, en), (ru_file, ru)) in sources(Lang::En).iter().zip(sources(Lang::Ru)) {
            assert_eq!(en_file, ru_file);
            let (en_ids, ru_ids) = (ids(en), ids(ru));
            let only_en: Vec<_> = en_ids.difference(&ru_ids).collect();
            let only_ru: Vec<_> = ru_ids.difference(&en_ids).collect();
            assert!(
                only_en.is_empty() && only_ru.is_empty(),
                "{en_file}: only in English {only_en:?}, only in Russian {only_ru:?}"
            );
            for (lang, text) in [("en", en), ("ru", ru)] {
                if let Err((_, errors)) = FluentResource::try_new((*text).to_owned()) {
                    panic!("{lang}/{en_file} does not parse: {errors:?}");
                }
            }
        }
        for lang in Lang::ALL {
            let all: Vec<String> = sources(lang).iter().flat_map(|(_, t)| ids(t)).collect();
            let unique: BTreeSet<_> = all.iter().collect();
            assert_eq!(all.len(), unique.len(), "{} repeats an id", lang.code());
        }
    }

    /// Every literal id in `t("…")`, `t1("…"`, `t2("…"`, `i18n::t("…")`, and the ids built from
    /// a prefix and a closed set of codes.
    fn used_ids(root: &Path) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut stack = vec![root.join("templates"), root.join("crates/web/src")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                // Comments show the syntax with placeholder ids; only code and markup count.
                let text: String = text
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("//"))
                    .collect::<Vec<_>>()
                    .join("\n");
                for opener in ["t(\"", "t1(\"", "t2(\"", "t3(\""] {
                    for (at, _) in text.match_indices(opener) {
                        let preceded = text[..at].chars().next_back();
                        if preceded.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                            continue;
                        }
                        let rest = &text[at + opener.len()..];
                        if let Some(end) = rest.find('"') {
                            let id = &rest[..end];
                            if !id.is_empty() && !id.contains(['{', ' ']) {
                                found.insert(id.to_owned());
                            }
                        }
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_id_the_code_names_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let used = used_ids(&root);
        assert!(used.len() > 100, "found only {} ids", used.len());
        // The ids made from codes: every value the code can produce.
        let mut built: Vec<String> = Vec::new();
        for role in domain::teams::Role::ALL {
            built.push(format!("role-{}", role.as_str()));
        }
        for status in domain::connections::ConnectionStatus::ALL {
            built.push(format!("status-{}", status.as_str()));
        }
        for scope in domain::api_keys::ApiScope::ALL {
            built.push(format!("scope-{}", scope.as_str()));
        }
        for lang in Lang::ALL {
            let missing: Vec<_> = used
                .iter()
                .chain(&built)
                .filter(|id| !has_message(lang, id))
                .collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.code());
        }
    }
}

/// The domain's message codes against the catalogue: every kebab-case string literal in the
/// domain's (non-test) code is a code with a `msg-` entry, and every `msg-` entry is still a code
/// the source names, so a new refusal cannot reach a page without words and no dead entry stays.
#[cfg(test)]
mod message_code_tests {
    use std::{collections::BTreeSet, path::Path};

    use super::*;

    /// Kebab-case literals that are not messages: Standard Webhooks' header names.
    const NOT_CODES: [&str; 3] = ["webhook-id", "webhook-signature", "webhook-timestamp"];

    fn is_code(text: &str) -> bool {
        !NOT_CODES.contains(&text)
            && text.contains('-')
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && !text.ends_with('-')
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    }

    /// Kebab-case literals in the `.rs` file `path`, or the files under it; test modules left out.
    fn literals(path: &Path, found: &mut BTreeSet<String>) {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                literals(&entry.path(), found);
            }
            return;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, piece) in code.split('"').enumerate() {
            if n % 2 == 1 && is_code(piece) {
                found.insert(piece.to_owned());
            }
        }
        // What a message is built from must be a code, never a sentence: the last literal of
        // each `ValidationError::new(…)` and `Message::new(…)`.
        for opener in ["ValidationError::new(", "Message::new("] {
            for (at, _) in code.match_indices(opener) {
                let call = &code[at + opener.len()..];
                let call = &call[..call.find(')').unwrap_or(call.len())];
                let literals: Vec<&str> = call.split('"').skip(1).step_by(2).collect();
                // `ValidationError::new("field", code)` passes a code made elsewhere.
                let wanted = if opener.starts_with("Message") { 1 } else { 2 };
                if let Some(last) = literals.get(wanted - 1) {
                    assert!(
                        is_code(last),
                        "{}: `{opener}…\"{last}\")` is not a message code",
                        path.display()
                    );
                }
            }
        }
    }

    #[test]
    fn every_domain_code_has_words_and_every_entry_a_code() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut in_code = BTreeSet::new();
        literals(&root.join("crates/domain/src"), &mut in_code);
        literals(&root.join("crates/web/src/webhooks.rs"), &mut in_code);
        assert!(in_code.len() > 50, "found only {} codes", in_code.len());
        for lang in Lang::ALL {
            let missing: Vec<_> = in_code
                .iter()
                .filter(|code| !has_message(lang, &format!("msg-{code}")))
                .collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.code());
        }
        let (_, messages) = sources(Lang::En)
            .iter()
            .find(|(file, _)| *file == "messages.ftl")
            .expect("messages.ftl is in the catalogue");
        let dead: Vec<&str> = messages
            .lines()
            .filter_map(|line| line.strip_prefix("msg-"))
            .filter_map(|line| line.split_once(" =").map(|(code, _)| code))
            .filter(|code| !in_code.contains(*code))
            .collect();
        assert!(dead.is_empty(), "catalogue entries no code names: {dead:?}");
    }

    #[test]
    fn parameters_reach_the_words() {
        let message = domain::Message::new("too-long").with("max", 80);
        assert_eq!(
            domain_message_in(Lang::En, &message),
            "Use at most 80 characters."
        );
        assert_eq!(
            domain_message_in(Lang::Ru, &message),
            "Используйте не больше 80 символов."
        );
    }
}
