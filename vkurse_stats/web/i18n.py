"""Interface texts in Russian (the default) and English, and the choice of language.

Metric and section labels come from ``metrics/definitions.py``; this module holds everything
else the pages say. Each text is a (ru, en) pair so a missing translation cannot exist.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ..notify.alerts import MESSAGES as ALERT_MESSAGES
from ..notify.texts import MESSAGES as NOTIFY_MESSAGES

LANGS = ("ru", "en")
DEFAULT_LANG = "ru"
LANG_COOKIE = "vks_lang"

MESSAGES: dict[str, tuple[str, str]] = {
    "app.title": ("ВКурсе — статистика", "VKurse statistics"),
    "app.brand": ("ВКурсе · Статистика", "VKurse · Statistics"),
    "nav.dashboard": ("Статистика", "Statistics"),
    "nav.companies": ("Компании", "Companies"),
    "nav.accounts": ("Учётные записи", "Accounts"),
    "nav.tokens": ("Токены API", "API tokens"),
    "nav.audit": ("Журнал действий", "Audit log"),
    "nav.api": ("API", "API"),
    "nav.logout": ("Выйти", "Log out"),
    "nav.password": ("Сменить пароль", "Change password"),
    "nav.switch_company": ("Компания", "Company"),
    "nav.open": ("Открыть", "Open"),
    "login.title": ("Вход в статистику", "Sign in to statistics"),
    "login.email": ("Электронная почта", "E-mail"),
    "login.password": ("Пароль", "Password"),
    "login.submit": ("Войти", "Sign in"),
    "login.help": (
        "Доступ выдаёт служба поддержки: напишите на support@vkurse.ru, и вам пришлют пароль для входа.",
        "Access is issued by support: write to support@vkurse.ru and you will receive a password.",
    ),
    "login.bad": ("Неверная электронная почта или пароль.", "Wrong e-mail or password."),
    "login.throttled": (
        "Слишком много неудачных попыток входа. Повторите через {minutes} мин.",
        "Too many failed sign-in attempts. Try again in {minutes} min.",
    ),
    "login.logged_out": ("Вы вышли из системы.", "You have signed out."),
    "login.busy": (
        "Сервер сейчас проверяет слишком много паролей. Повторите через несколько секунд.",
        "Too many passwords are being checked right now. Try again in a few seconds.",
    ),
    "password.title": ("Смена пароля", "Change password"),
    "password.forced": (
        "Вы вошли с временным паролем. Задайте свой пароль, чтобы продолжить.",
        "You signed in with a one-time password. Choose your own password to continue.",
    ),
    "password.current": ("Текущий пароль", "Current password"),
    "password.new": ("Новый пароль", "New password"),
    "password.repeat": ("Новый пароль ещё раз", "Repeat the new password"),
    "password.submit": ("Сохранить пароль", "Save password"),
    "password.hint": ("Не короче {n} символов.", "At least {n} characters."),
    "password.bad_current": ("Текущий пароль указан неверно.", "The current password is wrong."),
    "password.mismatch": ("Новые пароли не совпадают.", "The new passwords do not match."),
    "password.too_short": (
        "Пароль должен быть не короче {n} символов.",
        "The password must have at least {n} characters.",
    ),
    "password.same": (
        "Новый пароль должен отличаться от временного.",
        "The new password must differ from the one-time password.",
    ),
    "password.changed": ("Пароль изменён.", "Password changed."),
    "sessions.title": ("Сеансы", "Sessions"),
    "sessions.hint": (
        "Смена пароля завершает все остальные сеансы этой учётной записи. Если вы "
        "вошли на чужом устройстве или подозреваете, что пароль узнали, выйдите "
        "везде.",
        "Changing the password ends every other session of this account. If you "
        "signed in on someone else's device or suspect your password is known, sign "
        "out everywhere.",
    ),
    "sessions.end_all": ("Выйти на всех устройствах", "Sign out everywhere"),
    "range.from": ("С", "From"),
    "range.to": ("По", "To"),
    "range.show": ("Показать статистику", "Show statistics"),
    "range.this_month": ("Этот месяц", "This month"),
    "range.last_month": ("Прошлый месяц", "Last month"),
    "range.quarter": ("Квартал", "Quarter"),
    "range.year": ("Год", "Year"),
    "range.last_7": ("7 дней", "Last 7 days"),
    "range.last_30": ("30 дней", "Last 30 days"),
    "range.last_12_months": ("12 месяцев", "Last 12 months"),
    "range.bad": ("Неверный период: {error}", "Invalid range: {error}"),
    "download.title": ("Скачать статистику", "Download statistics"),
    "download.xlsx": ("Excel", "Excel"),
    "download.csv": ("CSV", "CSV"),
    "dash.period": ("Период", "Range"),
    "dash.timezone": ("Часовой пояс компании", "Company timezone"),
    "dash.peak_at": ("достигнуто", "reached"),
    "dash.limit": ("лимит", "limit"),
    "dash.of_limit": ("от лимита", "of the limit"),
    "dash.no_limit": ("без лимита", "no limit"),
    "dash.total_in_brackets": ("всего", "total"),
    "dash.empty": (
        "За выбранный период активности не было: ни подключений, ни мероприятий, ни "
        "звонков, ни сообщений. Выберите другой период или дождитесь, пока платформа "
        "передаст статистику.",
        "There was no activity in this range: no connections, events, calls or "
        "messages. Pick another range or wait until the platform sends its "
        "statistics.",
    ),
    "dash.charts": ("Графики по дням", "Daily charts"),
    "dash.devices": ("Пользователи по типам клиентов и устройствам", "Users by client type and device"),
    "dash.clients_daily": ("Пользователи по типам клиентов по дням", "Users by client type per day"),
    "dash.average": ("Среднее", "Average"),
    "dash.peak_day": ("Пик", "Peak"),
    "dash.limit_line": ("Лимит лицензии", "Licence limit"),
    "dash.limit_of": ("Лимит: {name}", "Limit: {name}"),
    "dash.limit_short": ("Лимит", "Limit"),
    "dash.devices_other": ("Остальные ({n})", "Others ({n})"),
    "dash.day": ("День", "Day"),
    "dash.week": ("Неделя", "Week"),
    "dash.users": ("Пользователей", "Users"),
    "dash.chart_table": ("Данные графика таблицей", "Chart data as a table"),
    "dash.weekly": (
        "Период длиннее трёх месяцев показан по неделям: у пиков — наибольший пик "
        "недели с его днём и временем, у количеств — сумма за неделю.",
        "A range longer than three months is charted by week: a peak is the week's "
        "greatest, with its day and time; a count is the week's sum.",
    ),
    "dash.clients_weekly": (
        "По неделям: наибольшее число людей за день недели.",
        "By week: the most people on one day of the week.",
    ),
    "dash.range_kept": ("Показаны последние 30 дней.", "The last 30 days are shown."),
    "dash.hours": ("По дням недели и часам", "By weekday and hour"),
    "dash.hours_note": (
        "Наибольшее значение за каждый час в этот день недели за период (время компании).",
        "The highest count in each hour on that weekday over the range (the company's time).",
    ),
    "dash.weekday": ("День недели", "Weekday"),
    "dash.prev_short": ("к пред. периоду", "vs previous"),
    "dash.prev_title": ("Предыдущий период ({span}): {value}", "Previous period ({span}): {value}"),
    "dash.prev_same": ("без изменений", "no change"),
    "dash.breach_none": ("Лимит не достигался", "The limit was never reached"),
    "dash.breach_at": ("На лимите {times}, всего {total}", "At the limit {times}, {total} in total"),
    "dash.breach_over": ("Сверх лимита {times}, всего {total}", "Over it {times}, {total} in total"),
    "dash.breach_list": ("Список", "List"),
    "dash.open_peak": ("Из чего сложился пик", "What made the peak"),
    "dash.at_limit": ("На лимите", "At the limit"),
    "dash.at_limit_of": ("На лимите: {name}", "At the limit: {name}"),
    "dash.open_day": ("Нажмите на день, чтобы увидеть, из чего сложился пик", "Click a day to see what made the peak"),
    "breach.title": ("Превышения лимитов", "Licence limit breaches"),
    "breach.none": ("За период ни один лимит лицензии не достигался.", "No licence limit was reached in this range."),
    "breach.summary": (
        "Лимит {limit}. На лимите {at_times}, всего {at_total}; сверх лимита "
        "{over_times}, всего {over_total}; дней с превышением: {days}.",
        "Limit {limit}. At the limit {at_times}, {at_total} in total; over it "
        "{over_times}, {over_total} in total; days affected: {days}.",
    ),
    "breach.open_day": ("День подробно", "The day"),
    "breach.truncated": (
        "Показаны первые 500 эпизодов; остальные — в выгрузке Excel за более короткий период.",
        "The first 500 episodes are shown; export a shorter range for the rest.",
    ),
    "sizing.title": ("Какой лимит нужен", "What limit is needed"),
    "sizing.note": (
        "По дневным пикам дней с активностью: медиана, 95-й перцентиль, дни на 90 % "
        "и 100 % лимита и наименьший лимит, которого хватило бы в 95 % и во все "
        "такие дни.",
        "From the daily peaks of days with activity: median, 95th percentile, days at "
        "90 % and 100 % of the limit, and the smallest limit that would have covered "
        "95 % and all of those days.",
    ),
    "sizing.metric": ("Показатель", "Metric"),
    "sizing.limit": ("Лимит", "Limit"),
    "sizing.active_days": ("Дней с активностью", "Days with activity"),
    "sizing.median": ("Медиана дневных пиков", "Median daily peak"),
    "sizing.p95": ("95-й перцентиль", "95th percentile"),
    "sizing.days_90": ("Дней ≥ 90 % лимита", "Days ≥ 90 % of the limit"),
    "sizing.days_100": ("Дней ≥ 100 % лимита", "Days ≥ 100 % of the limit"),
    "sizing.covers_95": ("Лимит на 95 % дней", "Limit covering 95 % of days"),
    "sizing.covers_100": ("Лимит на все дни", "Limit covering every day"),
    "day.title": ("День {day}", "Day {day}"),
    "day.makers_title": ("Из чего сложился пик: {metric}", "What made the peak: {metric}"),
    "day.makers_summary": ("В {at} — {value}:", "At {at}: {value}."),
    "day.makers_limit": ("Лимит тогда: {limit}.", "The limit then: {limit}."),
    "day.no_peak": ("В этот день показатель был нулевым.", "The figure was zero that day."),
    "day.col_title": ("Мероприятие или звонок", "Event or call"),
    "day.col_template": ("Шаблон", "Template"),
    "day.col_organizer": ("Организатор", "Organizer"),
    "day.col_connections": ("Подключений", "Connections"),
    "day.col_speakers": ("Докладчиков (WebRTC)", "Speakers (WebRTC)"),
    "day.col_viewers": ("Зрителей вебинара", "Webinar viewers"),
    "day.share_connections": ("Вклад в пик, подключений", "Share of the peak, connections"),
    "day.share_speakers": ("Вклад в пик, докладчиков", "Share of the peak, speakers"),
    "day.share_viewers": ("Вклад в пик, зрителей", "Share of the peak, viewers"),
    "day.share_events": ("Вклад в пик, мероприятий", "Share of the peak, events"),
    "day.total": ("Итого (равно пику)", "Total (equals the peak)"),
    "day.call": ("Звонок", "Call"),
    "day.curve_title": ("Кривая дня", "The day's curve"),
    "day.curve_note": (
        "Наибольшее значение за каждую минуту; точные пики отмечены, периоды на лимите и сверх него закрашены.",
        "The highest count of every minute; exact peaks are marked, time at and over the limit is shaded.",
    ),
    "day.hour": ("Час", "Hour"),
    "day.at_shade": ("На лимите", "At the limit"),
    "day.over_shade": ("Сверх лимита", "Over the limit"),
    "day.peak": ("Пик", "Peak"),
    "day.api": ("Те же данные в API:", "The same figures in the API:"),
    "dash.side": ("Хранилище и пользователи", "Storage and users"),
    "nav.skip": ("Перейти к содержанию", "Skip to content"),
    "nav.main": ("Основное меню", "Main menu"),
    "table.events_note": (
        "«Участников» — разные люди за всё мероприятие (пользователь считается "
        "один раз, каждый гость — отдельно). «Пик одновременных подключений» — "
        "наибольшее число подключений в один момент: переподключение и вход со "
        "второго устройства — новые подключения, поэтому пик бывает больше числа "
        "участников.",
        "“Participants” are the different people over the whole event (a user "
        "counts once, each guest separately). “Peak concurrent connections” is "
        "the most connections at one instant: a reconnect or a second device is "
        "another connection, so the peak can exceed the participants.",
    ),
    "table.error": ("Не удалось обновить таблицу: {error}", "Could not update the table: {error}"),
    "table.pages": ("Страницы таблицы", "Table pages"),
    "dash.no_devices": ("Входов за период нет.", "No logins in this range."),
    "table.search": ("Поиск", "Search"),
    "table.find": ("Найти", "Find"),
    "table.empty": ("Нет записей.", "No rows."),
    "table.shown": ("Показаны {first}–{last} из {total}", "Showing {first}–{last} of {total}"),
    "table.prev": ("← Назад", "← Previous"),
    "table.next": ("Вперёд →", "Next →"),
    "col.client_device": ("Тип клиента · устройство", "Client type · device"),
    "support.companies": ("Компании", "Companies"),
    "support.company_new": ("Новая компания", "New company"),
    "support.company_edit": ("Настройки компании", "Company settings"),
    "support.id": ("Идентификатор", "ID"),
    "support.name": ("Название", "Name"),
    "support.timezone": ("Часовой пояс", "Timezone"),
    "support.limits": ("Лимиты лицензии", "Licence limits"),
    "support.limit.concurrent_speakers": ("Одновременных докладчиков", "Concurrent speakers"),
    "support.limit.concurrent_events": ("Параллельных мероприятий", "Parallel events"),
    "support.limit.concurrent_connections": ("Одновременных подключений", "Concurrent connections"),
    "support.limit.storage_bytes": ("Хранилище (например, 3 TB)", "Storage (e.g. 3 TB)"),
    "support.limit_hint": ("Пусто — без лимита.", "Empty = no limit."),
    "support.create": ("Создать", "Create"),
    "support.save": ("Сохранить", "Save"),
    "support.saved": ("Сохранено.", "Saved."),
    "support.view_stats": ("Статистика", "Statistics"),
    "support.edit": ("Изменить", "Edit"),
    "support.accounts": ("Учётные записи", "Accounts"),
    "support.account_new": ("Новая учётная запись", "New account"),
    "support.role": ("Роль", "Role"),
    "support.role.admin": ("Администратор компании", "Company administrator"),
    "support.role.operator": ("Поддержка", "Support"),
    "support.company": ("Компания", "Company"),
    "support.state": ("Состояние", "State"),
    "support.active": ("Активна", "Active"),
    "support.disabled": ("Отключена", "Disabled"),
    "support.must_change": ("ждёт смены пароля", "awaiting password change"),
    "support.last_login": ("Последний вход", "Last sign-in"),
    "support.reset": ("Новый пароль", "New password"),
    "support.disable": ("Отключить", "Disable"),
    "support.enable": ("Включить", "Enable"),
    "support.once": (
        "Сохраните сейчас — больше это значение показано не будет.",
        "Save it now: it will not be shown again.",
    ),
    "support.password_for": ("Одноразовый пароль для {email}", "One-time password for {email}"),
    "support.token_created": ("Новый токен", "New token"),
    "support.tokens": ("Токены API", "API tokens"),
    "support.token_new": ("Новый токен", "New token"),
    "support.scope": ("Права", "Scope"),
    "support.scope.ingest": ("Запись (ingest)", "Write (ingest)"),
    "support.scope.read": ("Чтение (read)", "Read"),
    "support.platform": ("Вся платформа", "Whole platform"),
    "support.label": ("Описание", "Label"),
    "support.prefix": ("Начало токена", "Token prefix"),
    "support.created": ("Создан", "Created"),
    "support.revoke": ("Отозвать", "Revoke"),
    "support.revoked": ("Отозван", "Revoked"),
    "support.audit": ("Журнал действий", "Audit log"),
    "support.at": ("Время (UTC)", "Time (UTC)"),
    "support.actor": ("Кто", "Actor"),
    "support.action": ("Действие", "Action"),
    "support.detail": ("Подробности", "Details"),
    "support.address": ("Адрес", "Address"),
    "support.no_companies": (
        "Компаний пока нет. Создайте первую ниже или передайте данные через API.",
        "No companies yet. Create one below or send data via the API.",
    ),
    "support.done.company_created": ("Компания «{company}» создана.", "Company “{company}” created."),
    "support.done.company_saved": ("Сохранено.", "Saved."),
    "support.done.company_moved": (
        "Сохранено. Часовой пояс теперь {timezone}: статистика компании пересчитана по дням этого пояса.",
        "Saved. The timezone is now {timezone}: the company's statistics were recomputed on the days of this zone.",
    ),
    "support.done.account_created": ("Учётная запись {email} создана.", "Account {email} created."),
    "support.done.account_reset": (
        "Для {email} выдан новый одноразовый пароль; все сеансы этой учётной записи завершены.",
        "A new one-time password was issued for {email}; every session of the account has ended.",
    ),
    "support.done.account_disabled": (
        "Учётная запись {email} отключена; её сеансы завершены.",
        "Account {email} disabled; its sessions have ended.",
    ),
    "support.done.account_enabled": ("Учётная запись {email} снова включена.", "Account {email} enabled again."),
    "support.done.token_created": ("Токен №{token} создан.", "Token #{token} created."),
    "support.done.token_revoked": (
        "Токен №{token} ({prefix}…) отозван: запросы с ним больше не принимаются.",
        "Token #{token} ({prefix}…) revoked: requests with it are no longer accepted.",
    ),
    "support.token_for": ("Токен №{token}: {scope}, {company}", "Token #{token}: {scope}, {company}"),
    "support.token": ("Токен", "Token"),
    "support.token_platform_hint": (
        "Без компании — токен для всей платформы.",
        "Without a company the token is for the whole platform.",
    ),
    "support.cancel": ("Отмена", "Cancel"),
    "support.unknown_company": ("Компания «{company}» не найдена.", "Unknown company “{company}”."),
    "support.unknown_account": ("Учётная запись {account} не найдена.", "No account {account}."),
    "support.unknown_token": ("Токен №{token} не найден.", "No token {token}."),
    "support.company_hint": (
        "Идентификатор компании: начните вводить название или идентификатор",
        "Company id: start typing its name or id",
    ),
    "support.tz_hint": ("Начните вводить город, например «Москва»", "Start typing a city, e.g. Moscow"),
    "support.confirm.reset_title": ("Выдать новый пароль?", "Issue a new password?"),
    "support.confirm.reset": (
        "Для {email} будет выдан новый одноразовый пароль. Текущий пароль "
        "перестанет действовать, все сеансы этой учётной записи завершатся.",
        "A new one-time password will be issued for {email}. The current "
        "password stops working and every session of the account ends.",
    ),
    "support.confirm.disable_title": ("Отключить учётную запись?", "Disable the account?"),
    "support.confirm.disable": (
        "{email} больше не сможет войти, все сеансы этой учётной записи "
        "завершатся сразу. Включить её снова можно на странице учётных "
        "записей.",
        "{email} will no longer be able to sign in and every session of "
        "the account ends at once. It can be enabled again on the "
        "accounts page.",
    ),
    "support.confirm.revoke_title": ("Отозвать токен?", "Revoke the token?"),
    "support.confirm.revoke": (
        "Токен №{token} ({prefix}…, {company}) сразу перестанет приниматься. "
        "Отменить это нельзя: понадобится новый токен.",
        "Token #{token} ({prefix}…, {company}) stops being accepted at once. "
        "This cannot be undone: a new token will be needed.",
    ),
    "audit.filter": ("Отбор", "Filter"),
    "audit.any_action": ("Все действия", "Every action"),
    "audit.from": ("С (UTC)", "From (UTC)"),
    "audit.to": ("По (UTC)", "To (UTC)"),
    "audit.apply": ("Показать", "Show"),
    "audit.clear": ("Сбросить", "Clear"),
    "audit.page": ("Страница {page} из {pages}", "Page {page} of {pages}"),
    "audit.first": ("« Первая", "« First"),
    "audit.last": ("Последняя »", "Last »"),
    "audit.none": ("Нет записей, подходящих под отбор.", "No entries match the filter."),
    "audit.changes": ("Изменения", "Changes"),
    "audit.yes": ("да", "yes"),
    "audit.no": ("нет", "no"),
    "audit.via": ("Источник", "Source"),
    "audit.file": ("Файл", "File"),
    "audit.line": ("Строка", "Line"),
    "audit.sessions": ("Завершено сеансов", "Sessions ended"),
    "audit.bad_date": ("«{value}» — не дата (нужно ГГГГ-ММ-ДД).", "“{value}” is not a date (YYYY-MM-DD)."),
    "audit.reversed": ("Начало периода позже его конца.", "The start of the range is after its end."),
    "audit.limit.concurrent_speakers": ("Лимит: одновременных докладчиков", "Limit: concurrent speakers"),
    "audit.limit.concurrent_events": ("Лимит: параллельных мероприятий", "Limit: parallel events"),
    "audit.limit.concurrent_connections": ("Лимит: одновременных подключений", "Limit: concurrent connections"),
    "audit.limit.storage_bytes": ("Лимит: хранилище", "Limit: storage"),
    "audit.action.company.create": ("Создание компании", "Company created"),
    "audit.action.company.update": ("Изменение компании", "Company changed"),
    "audit.action.account.create": ("Создание учётной записи", "Account created"),
    "audit.action.account.reset": ("Выдача нового пароля", "New password issued"),
    "audit.action.account.disable": ("Отключение учётной записи", "Account disabled"),
    "audit.action.account.enable": ("Включение учётной записи", "Account enabled"),
    "audit.action.token.create": ("Создание токена", "Token created"),
    "audit.action.token.revoke": ("Отзыв токена", "Token revoked"),
    "audit.action.login": ("Вход", "Sign-in"),
    "audit.action.login.failed": ("Неудачный вход", "Failed sign-in"),
    "audit.action.logout": ("Выход", "Sign-out"),
    "audit.action.logout.everywhere": ("Выход на всех устройствах", "Signed out everywhere"),
    "audit.action.password.changed": ("Смена пароля", "Password changed"),
    "audit.action.password.failed": ("Неверный текущий пароль", "Wrong current password"),
    "audit.action.export.csv": ("Выгрузка CSV", "CSV download"),
    "audit.action.export.xlsx": ("Выгрузка Excel", "Excel download"),
    "companies.search": ("Идентификатор или название", "ID or name"),
    "companies.all": ("Всего компаний: {total}", "Companies: {total}"),
    "companies.found": ("Найдено компаний: {total}", "Companies found: {total}"),
    "companies.none_found": ("Ни одна компания не подходит.", "No company matches."),
    "switch.title": ("Выбор компании", "Choose a company"),
    "switch.search": ("Найти компанию", "Find a company"),
    "switch.current": ("Открыта сейчас", "Open now"),
    "switch.range": ("Период сохранится: {d1} — {d2}", "The range is kept: {d1} — {d2}"),
    "error.404": ("Страница не найдена", "Page not found"),
    "error.403": ("Доступ запрещён", "Access denied"),
    "error.500": ("Внутренняя ошибка сервиса. Мы уже знаем о ней.", "Internal service error. It has been logged."),
    "error.generic": ("Ошибка", "Error"),
    "error.unavailable": (
        "Хранилище данных временно недоступно (например, закончилось место на диске). "
        "Попробуйте позже: сервер восстановится сам, как только запись снова станет возможна.",
        "The data store is temporarily unavailable (for example, the disk is full). "
        "Try again later: the server recovers by itself once writing is possible again.",
    ),
    "error.back": ("На главную", "Go to the start page"),
    "error.csrf": (
        "Форма устарела. Обновите страницу и повторите.",
        "The form has expired. Reload the page and try again.",
    ),
    "unit.b": ("Б", "B"),
    "unit.kb": ("КБ", "KB"),
    "unit.mb": ("МБ", "MB"),
    "unit.gb": ("ГБ", "GB"),
    "unit.tb": ("ТБ", "TB"),
    "unit.h": ("ч", "h"),
    "unit.min": ("мин", "min"),
    "unit.s": ("с", "s"),
}

MESSAGES.update(NOTIFY_MESSAGES)
MESSAGES.update(ALERT_MESSAGES)


def pick_lang(request: Request) -> str:
    """``?lang=`` wins, then the language cookie, then Russian."""
    q = request.query_params.get("lang")
    if q in LANGS:
        return q
    c = request.cookies.get(LANG_COOKIE)
    return c if c in LANGS else DEFAULT_LANG


def translate(lang: str, key: str, **kw: Any) -> str:
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**kw) if kw else text


class Translator:
    """The ``t()`` of the templates, bound to one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, key: str, **kw: Any) -> str:
        return translate(self.lang, key, **kw)
