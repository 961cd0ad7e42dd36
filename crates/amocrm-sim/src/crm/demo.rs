//! Realistic demo entities, so a first `GET /api/v4/leads` through a proxy shows a lived-in
//! account: Russian people and companies for amoCRM, English ones for Kommo, spread over both
//! pipelines and most stages, with prices, sources, meeting dates and contact details. Fixed
//! data (no randomness), dated relative to the moment of seeding.

use serde_json::{Value, json};

use super::catalog::{LOST, Lang, MAIN_PIPELINE, PARTNER_PIPELINE, WON};
use super::{Actor, ContactInput, Crm, FieldInput, FieldRef, ItemInput, LeadInput};
use crate::config::DEMO_USER_ID;

const DAY: i64 = 86_400;

struct DemoContact {
    first: [&'static str; 2],
    last: [&'static str; 2],
    position: [&'static str; 2],
    company: [&'static str; 2],
    phone: [&'static str; 2],
    email: [&'static str; 2],
}

struct DemoLead {
    name: [&'static str; 2],
    price: [i64; 2],
    pipeline: i64,
    status: i64,
    /// Offset from the demo user's id.
    responsible: i64,
    /// Enum id of the "Source" field.
    source: i64,
    contact: usize,
    days_ago: i64,
    meeting_in_days: Option<i64>,
}

const fn contact(
    first: [&'static str; 2],
    last: [&'static str; 2],
    position: [&'static str; 2],
    company: [&'static str; 2],
    phone: [&'static str; 2],
    email: [&'static str; 2],
) -> DemoContact {
    DemoContact {
        first,
        last,
        position,
        company,
        phone,
        email,
    }
}

const CONTACTS: [DemoContact; 10] = [
    contact(
        ["Иван", "John"],
        ["Петров", "Carter"],
        ["Генеральный директор", "CEO"],
        ["ООО «Вектор»", "Acme Logistics"],
        ["+7 495 123-45-67", "+1 212 555 0147"],
        ["i.petrov@vektor.example", "john.carter@acme.example"],
    ),
    contact(
        ["Мария", "Emily"],
        ["Соколова", "Brown"],
        ["Владелица", "Owner"],
        ["Кофейня «Зерно»", "Bean & Leaf Coffee"],
        ["+7 812 234-56-78", "+1 415 555 0112"],
        ["maria@zerno.example", "emily@beanleaf.example"],
    ),
    contact(
        ["Алексей", "Michael"],
        ["Кузнецов", "Davis"],
        ["Главный инженер", "Chief engineer"],
        ["АО «СтройМонтаж»", "Northwind Builders"],
        ["+7 343 345-67-89", "+1 312 555 0190"],
        [
            "a.kuznetsov@stroymontazh.example",
            "m.davis@northwind.example",
        ],
    ),
    contact(
        ["Ольга", "Sarah"],
        ["Васильева", "Wilson"],
        ["Директор по персоналу", "HR director"],
        ["ООО «Альфа-Логистик»", "Summit Training"],
        ["+7 495 456-78-90", "+1 646 555 0133"],
        [
            "o.vasilieva@alfa-log.example",
            "sarah.wilson@summit.example",
        ],
    ),
    contact(
        ["Дмитрий", "David"],
        ["Смирнов", "Miller"],
        ["Технический директор", "CTO"],
        ["ООО «Доставка 24»", "QuickDrop Delivery"],
        ["+7 916 567-89-01", "+1 617 555 0164"],
        ["dmitry@dostavka24.example", "david@quickdrop.example"],
    ),
    contact(
        ["Екатерина", "Linda"],
        ["Новикова", "Nguyen"],
        ["Индивидуальный предприниматель", "Consultant"],
        ["ИП Новикова Е. А.", "Nguyen Consulting"],
        ["+7 903 678-90-12", "+1 206 555 0178"],
        ["katya.novikova@mail.example", "linda@nguyen.example"],
    ),
    contact(
        ["Сергей", "Robert"],
        ["Морозов", "Taylor"],
        ["Руководитель ИТ-отдела", "Head of IT"],
        ["ООО «ТехноПарк»", "TechPark Inc."],
        ["+7 383 789-01-23", "+1 512 555 0121"],
        ["s.morozov@technopark.example", "r.taylor@techpark.example"],
    ),
    contact(
        ["Наталья", "Jessica"],
        ["Лебедева", "Moore"],
        ["Менеджер по партнёрам", "Partner manager"],
        ["ООО «Регион-Софт»", "Regional Software"],
        ["+7 846 890-12-34", "+1 303 555 0145"],
        ["n.lebedeva@region-soft.example", "jessica@regsoft.example"],
    ),
    contact(
        ["Андрей", "James"],
        ["Козлов", "Anderson"],
        ["Специалист по закупкам", "Purchasing specialist"],
        ["ООО «Север-Трейд»", "North Trade Co."],
        ["+7 921 901-23-45", "+1 503 555 0186"],
        [
            "kozlov@sever-trade.example",
            "j.anderson@northtrade.example",
        ],
    ),
    contact(
        ["Татьяна", "Karen"],
        ["Павлова", "Thomas"],
        ["Владелица", "Owner"],
        ["Цветочная лавка «Флора»", "Bloom Florist"],
        ["+7 961 012-34-56", "+1 702 555 0159"],
        ["tanya@flora.example", "karen@bloom.example"],
    ),
];

#[expect(
    clippy::too_many_arguments,
    reason = "one row of the demo table, named by position"
)]
const fn lead(
    name: [&'static str; 2],
    price: [i64; 2],
    pipeline: i64,
    status: i64,
    responsible: i64,
    source: i64,
    contact: usize,
    days_ago: i64,
    meeting_in_days: Option<i64>,
) -> DemoLead {
    DemoLead {
        name,
        price,
        pipeline,
        status,
        responsible,
        source,
        contact,
        days_ago,
        meeting_in_days,
    }
}

const WEBSITE: i64 = 908_107;
const REFERRAL: i64 = 908_108;
const TRADE_SHOW: i64 = 908_109;
const COLD_CALL: i64 = 908_110;

const LEADS: [DemoLead; 12] = [
    lead(
        [
            "Поставка оборудования для склада",
            "Warehouse equipment supply",
        ],
        [450_000, 4_500],
        MAIN_PIPELINE,
        61_457_202,
        0,
        WEBSITE,
        0,
        21,
        Some(3),
    ),
    lead(
        ["Сайт для кофейни", "Website for a coffee shop"],
        [120_000, 1_200],
        MAIN_PIPELINE,
        61_457_201,
        1,
        REFERRAL,
        1,
        18,
        None,
    ),
    lead(
        ["Годовое сервисное обслуживание", "Annual service contract"],
        [980_000, 9_800],
        MAIN_PIPELINE,
        61_457_204,
        0,
        TRADE_SHOW,
        2,
        30,
        Some(1),
    ),
    lead(
        ["Обучение отдела продаж", "Sales team training"],
        [75_000, 750],
        MAIN_PIPELINE,
        WON,
        2,
        WEBSITE,
        3,
        45,
        None,
    ),
    lead(
        ["Мобильное приложение для курьеров", "Courier mobile app"],
        [1_500_000, 15_000],
        MAIN_PIPELINE,
        61_457_203,
        1,
        COLD_CALL,
        4,
        12,
        Some(5),
    ),
    lead(
        ["Аудит воронки продаж", "Sales funnel audit"],
        [30_000, 300],
        MAIN_PIPELINE,
        LOST,
        0,
        WEBSITE,
        5,
        60,
        None,
    ),
    lead(
        ["Интеграция с 1С", "ERP integration"],
        [260_000, 2_600],
        MAIN_PIPELINE,
        61_457_202,
        2,
        REFERRAL,
        6,
        9,
        Some(2),
    ),
    lead(
        ["Партнёрская программа", "Partner program"],
        [0, 0],
        PARTNER_PIPELINE,
        61_457_301,
        1,
        TRADE_SHOW,
        7,
        5,
        None,
    ),
    lead(
        ["Оптовая закупка", "Wholesale order"],
        [640_000, 6_400],
        MAIN_PIPELINE,
        61_457_200,
        0,
        WEBSITE,
        8,
        2,
        None,
    ),
    lead(
        ["Реклама в соцсетях", "Social media ads"],
        [45_000, 450],
        MAIN_PIPELINE,
        61_457_201,
        2,
        COLD_CALL,
        9,
        3,
        None,
    ),
    lead(
        ["Совместный вебинар", "Joint webinar"],
        [88_000, 880],
        PARTNER_PIPELINE,
        61_457_302,
        0,
        REFERRAL,
        0,
        7,
        Some(10),
    ),
    lead(
        ["Внедрение CRM", "CRM rollout"],
        [210_000, 2_100],
        MAIN_PIPELINE,
        WON,
        1,
        REFERRAL,
        2,
        40,
        None,
    ),
];

fn field(id: i64, values: Vec<ItemInput>) -> FieldInput {
    FieldInput {
        field: FieldRef::Id(id),
        values: Some(values),
    }
}

fn item(value: Value) -> ItemInput {
    ItemInput {
        value: Some(value),
        enum_id: None,
        enum_code: None,
    }
}

fn coded(value: &str, code: &str) -> ItemInput {
    ItemInput {
        value: Some(json!(value)),
        enum_id: None,
        enum_code: Some(code.to_owned()),
    }
}

/// Fills `crm` with the demo contacts and leads; `now` is the seeding time (Unix seconds).
pub fn seed(crm: &mut Crm, now: i64) {
    let i = match crm.lang {
        Lang::Ru => 0,
        Lang::En => 1,
    };
    let mut contact_ids = Vec::new();
    for (n, c) in (0_i64..).zip(CONTACTS.iter()) {
        let input = ContactInput {
            first_name: Some(c.first[i].to_owned()),
            last_name: Some(c.last[i].to_owned()),
            responsible_user_id: Some(DEMO_USER_ID + n % 3),
            custom_fields: vec![
                field(735_649, vec![coded(c.phone[i], "WORK")]),
                field(735_651, vec![coded(c.email[i], "WORK")]),
                field(735_653, vec![item(json!(c.position[i]))]),
                field(735_655, vec![item(json!(c.company[i]))]),
            ],
            ..ContactInput::default()
        };
        let actor = Actor {
            user_id: DEMO_USER_ID,
            now: now - (70 - n) * DAY,
        };
        if let Ok(contact) = crm.add_contact(input, actor) {
            contact_ids.push(contact.id);
        }
    }
    for l in &LEADS {
        let mut fields = vec![field(
            1_118_164,
            vec![ItemInput {
                value: None,
                enum_id: Some(l.source),
                enum_code: None,
            }],
        )];
        if let Some(days) = l.meeting_in_days {
            fields.push(field(1_118_165, vec![item(json!(now + days * DAY))]));
        }
        let input = LeadInput {
            name: Some(format!(
                "{} — {}",
                l.name[i], CONTACTS[l.contact].company[i]
            )),
            price: Some(l.price[i]),
            status_id: Some(l.status),
            pipeline_id: Some(l.pipeline),
            responsible_user_id: Some(DEMO_USER_ID + l.responsible),
            custom_fields: fields,
            contact_ids: contact_ids.get(l.contact).map(|id| vec![*id]),
        };
        let actor = Actor {
            user_id: DEMO_USER_ID,
            now: now - l.days_ago * DAY,
        };
        if let Err(errors) = crm.add_lead(input, actor) {
            tracing::warn!(?errors, "amocrm-sim: demo lead rejected");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_entity_is_valid_in_both_languages() {
        for lang in [Lang::Ru, Lang::En] {
            let mut crm = Crm::new(lang);
            seed(&mut crm, 1_760_000_000);
            assert_eq!(crm.contacts.len(), CONTACTS.len());
            assert_eq!(crm.leads.len(), LEADS.len());
            assert!(crm.leads.values().all(|l| l.contact_ids.len() == 1));
            assert!(crm.leads.values().any(|l| l.closed_at.is_some()));
        }
    }
}
