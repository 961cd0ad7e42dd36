//! What every account is configured with before it holds any entity: users, pipelines with their
//! statuses, and the custom fields of leads and contacts — in Russian for amoCRM accounts and in
//! English for Kommo ones. Shared by every account of a language (built once), so a hundred
//! thousand load-test accounts cost nothing here.

use std::sync::OnceLock;

use crate::config::{DEMO_USER_ID, DEMO_USER_NAME};
use crate::hosts::Platform;

/// The language an account's data is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    /// amoCRM accounts are Russian, Kommo ones English.
    pub fn of(platform: Platform) -> Self {
        match platform {
            Platform::Amocrm => Self::Ru,
            Platform::Kommo => Self::En,
        }
    }

    /// Picks the text of this language.
    pub fn pick<'a>(self, ru: &'a str, en: &'a str) -> &'a str {
        match self {
            Self::Ru => ru,
            Self::En => en,
        }
    }
}

/// The "won" status every pipeline has.
pub const WON: i64 = 142;
/// The "lost" status every pipeline has.
pub const LOST: i64 = 143;
/// The main pipeline.
pub const MAIN_PIPELINE: i64 = 7_211_390;
/// The second pipeline.
pub const PARTNER_PIPELINE: i64 = 7_211_391;

/// A user of the account (responsible for entities).
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub name: String,
}

/// A stage of a pipeline.
#[derive(Debug, Clone)]
pub struct Status {
    pub id: i64,
    pub name: String,
    pub sort: i64,
    pub color: &'static str,
    /// 1 = "unsorted" (incoming leads), 0 = ordinary.
    pub kind: u8,
}

/// A pipeline and its stages.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub id: i64,
    pub name: String,
    pub sort: i64,
    pub is_main: bool,
    pub statuses: Vec<Status>,
}

impl Pipeline {
    /// The stage new leads start in (the first ordinary one).
    pub fn first_status(&self) -> i64 {
        self.statuses
            .iter()
            .find(|s| s.kind == 0)
            .map_or(WON, |s| s.id)
    }
}

/// How a custom field's values look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Numeric,
    Select,
    MultiText,
    Date,
}

impl FieldType {
    /// The v4 `field_type` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Numeric => "numeric",
            Self::Select => "select",
            Self::MultiText => "multitext",
            Self::Date => "date",
        }
    }
}

/// One choice of a select or multitext field.
#[derive(Debug, Clone)]
pub struct Enum {
    pub id: i64,
    pub value: String,
    /// Multitext fields (phones, e-mails) name their enums (`WORK`, `MOB`).
    pub code: Option<&'static str>,
}

/// A custom field definition.
#[derive(Debug, Clone)]
pub struct Field {
    pub id: i64,
    pub name: String,
    pub code: Option<&'static str>,
    pub kind: FieldType,
    pub enums: Vec<Enum>,
}

/// The configuration of every account of one language.
#[derive(Debug)]
pub struct Catalog {
    pub users: Vec<User>,
    pub pipelines: Vec<Pipeline>,
    pub lead_fields: Vec<Field>,
    pub contact_fields: Vec<Field>,
}

impl Catalog {
    /// The catalog of `lang`.
    pub fn of(lang: Lang) -> &'static Self {
        static RU: OnceLock<Catalog> = OnceLock::new();
        static EN: OnceLock<Catalog> = OnceLock::new();
        match lang {
            Lang::Ru => RU.get_or_init(|| Self::build(Lang::Ru)),
            Lang::En => EN.get_or_init(|| Self::build(Lang::En)),
        }
    }

    pub fn user(&self, id: i64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn pipeline(&self, id: i64) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    pub fn main_pipeline(&self) -> &Pipeline {
        self.pipelines
            .iter()
            .find(|p| p.is_main)
            .unwrap_or_else(|| unreachable!("the catalog always has a main pipeline"))
    }

    /// The pipeline holding status `status_id` (won and lost belong to every pipeline, so they
    /// resolve to the main one).
    pub fn pipeline_of_status(&self, status_id: i64) -> Option<&Pipeline> {
        if status_id == WON || status_id == LOST {
            return Some(self.main_pipeline());
        }
        self.pipelines
            .iter()
            .find(|p| p.statuses.iter().any(|s| s.id == status_id))
    }

    fn build(lang: Lang) -> Self {
        let t = |ru: &str, en: &str| lang.pick(ru, en).to_owned();
        let status = |id, name: String, sort, color, kind| Status {
            id,
            name,
            sort,
            color,
            kind,
        };
        let closing = |statuses: &mut Vec<Status>| {
            statuses.push(status(
                WON,
                t("Успешно реализовано", "Closed - won"),
                10_000,
                "#CCFF66",
                0,
            ));
            statuses.push(status(
                LOST,
                t("Закрыто и не реализовано", "Closed - lost"),
                11_000,
                "#D5D8DB",
                0,
            ));
        };
        let mut main = vec![
            status(
                61_457_200,
                t("Неразобранное", "Incoming leads"),
                10,
                "#c1c1c1",
                1,
            ),
            status(
                61_457_201,
                t("Первичный контакт", "Initial contact"),
                20,
                "#99ccff",
                0,
            ),
            status(61_457_202, t("Переговоры", "Negotiation"), 30, "#ffff99", 0),
            status(
                61_457_203,
                t("Принимают решение", "Decision making"),
                40,
                "#ffcc66",
                0,
            ),
            status(
                61_457_204,
                t("Согласование договора", "Contract approval"),
                50,
                "#ff8f92",
                0,
            ),
        ];
        closing(&mut main);
        let mut partners = vec![
            status(
                61_457_301,
                t("Новая заявка", "New request"),
                10,
                "#98cbff",
                0,
            ),
            status(
                61_457_302,
                t("Обсуждение условий", "Terms discussion"),
                20,
                "#fffeb2",
                0,
            ),
        ];
        closing(&mut partners);
        let enumerated = |pairs: &[(i64, String)]| {
            pairs
                .iter()
                .map(|(id, value)| Enum {
                    id: *id,
                    value: value.clone(),
                    code: None,
                })
                .collect()
        };
        let coded = |pairs: &[(i64, &'static str)]| {
            pairs
                .iter()
                .map(|(id, code)| Enum {
                    id: *id,
                    value: (*code).to_owned(),
                    code: Some(*code),
                })
                .collect()
        };
        Self {
            users: vec![
                User {
                    id: DEMO_USER_ID,
                    name: DEMO_USER_NAME.to_owned(),
                },
                User {
                    id: DEMO_USER_ID + 1,
                    name: t("Анна Смирнова", "Anna Smith"),
                },
                User {
                    id: DEMO_USER_ID + 2,
                    name: t("Игорь Волков", "Igor Walker"),
                },
            ],
            pipelines: vec![
                Pipeline {
                    id: MAIN_PIPELINE,
                    name: t("Воронка", "Sales pipeline"),
                    sort: 1,
                    is_main: true,
                    statuses: main,
                },
                Pipeline {
                    id: PARTNER_PIPELINE,
                    name: t("Партнёры", "Partners"),
                    sort: 2,
                    is_main: false,
                    statuses: partners,
                },
            ],
            lead_fields: vec![
                Field {
                    id: 1_118_164,
                    name: t("Источник", "Source"),
                    code: None,
                    kind: FieldType::Select,
                    enums: enumerated(&[
                        (908_107, t("Сайт", "Website")),
                        (908_108, t("Рекомендация", "Referral")),
                        (908_109, t("Выставка", "Trade show")),
                        (908_110, t("Холодный звонок", "Cold call")),
                    ]),
                },
                Field {
                    id: 1_118_165,
                    name: t("Дата встречи", "Meeting date"),
                    code: None,
                    kind: FieldType::Date,
                    enums: Vec::new(),
                },
                Field {
                    id: 1_118_166,
                    name: t("Комментарий", "Comment"),
                    code: None,
                    kind: FieldType::Text,
                    enums: Vec::new(),
                },
                Field {
                    id: 1_118_167,
                    name: t("Скидка, %", "Discount, %"),
                    code: None,
                    kind: FieldType::Numeric,
                    enums: Vec::new(),
                },
            ],
            contact_fields: vec![
                Field {
                    id: 735_649,
                    name: t("Телефон", "Phone"),
                    code: Some("PHONE"),
                    kind: FieldType::MultiText,
                    enums: coded(&[(718_321, "WORK"), (718_323, "MOB"), (718_325, "HOME")]),
                },
                Field {
                    id: 735_651,
                    name: "Email".to_owned(),
                    code: Some("EMAIL"),
                    kind: FieldType::MultiText,
                    enums: coded(&[(718_331, "WORK"), (718_333, "PRIV")]),
                },
                Field {
                    id: 735_653,
                    name: t("Должность", "Position"),
                    code: Some("POSITION"),
                    kind: FieldType::Text,
                    enums: Vec::new(),
                },
                Field {
                    id: 735_655,
                    name: t("Компания", "Company"),
                    code: None,
                    kind: FieldType::Text,
                    enums: Vec::new(),
                },
            ],
        }
    }
}
