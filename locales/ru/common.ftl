# Макет: навигация, переключатель языка, подвал, роли, статусы, общие слова.
nav-main = Главное меню
nav-dashboard = Обзор
nav-connections = Подключения
nav-api-keys = Ключи API
nav-webhooks = Вебхуки
nav-events = События amoCRM
nav-team = Команда
nav-audit = Журнал аудита
nav-workspace = Рабочее пространство
nav-switch = Перейти
nav-account = Профиль
nav-log-out = Выйти
nav-log-in = Войти
nav-sign-up = Регистрация
footer-tagline = amolink — подключения amoCRM и Kommo для вашего продукта
lang-switch-label = Язык
copy = Копировать
copied = Скопировано
none = —
role-owner = владелец
role-admin = администратор
role-developer = разработчик
role-viewer = наблюдатель
connections-count = { $count ->
    [one] { $count } подключение
    [few] { $count } подключения
   *[many] { $count } подключений
}
revoke = Отозвать
