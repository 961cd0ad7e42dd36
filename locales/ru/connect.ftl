# connect
connect-title = Подключение
connect-secured = Защищено amolink
connect-page-title = Подключение { $platform }
connect-heading = Подключите свой аккаунт { $platform }
connect-asks = просит доступ к вашему аккаунту { $platform }.
connect-admin-only = Подключить аккаунт { $platform } может только его администратор. Перед подтверждением { $platform } покажет, к чему интеграция получит доступ.
connect-demo = Демонстрационный режим: кнопка открывает встроенный в amolink симулятор amoCRM, и весь путь можно пройти без аккаунта amoCRM.
connect-done-title = Подключено
connect-failed-title = Не подключено
connect-done-heading = { $account } подключён
connect-done-text = Готово. Можно закрыть это окно или вернуться на сайт, с которого вы пришли.
connect-failed-heading = Подключение не завершено
connect-failed-text = При подключении что-то пошло не так. Начните заново со страницы подключения.
connect-declined-title = Не подключено
connect-declined-heading = Ничего не подключено
connect-declined-text = Вы отклонили запрос на странице согласия amoCRM, поэтому доступ не выдан. Можно закрыть это окно или вернуться и начать заново.
