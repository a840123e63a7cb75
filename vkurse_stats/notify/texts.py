"""Texts of notifications (e-mails) and of their pages (report settings, webhook, deliveries),
in Russian and English. ``web/i18n.py`` adds them to the page catalogue, so a template and an
e-mail say the same thing in the same words."""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, tuple[str, str]] = {
    # --- the e-mail of a scheduled report --------------------------------------------------
    "report.subject.monthly": ("ВКурсе: отчёт за {period} — {company}", "VKurse: report for {period} — {company}"),
    "report.subject.weekly": (
        "ВКурсе: отчёт за неделю {period} — {company}",
        "VKurse: weekly report {period} — {company}",
    ),
    "report.greeting": ("Здравствуйте!", "Hello,"),
    "report.intro": (
        "Статистика использования лицензии компании «{company}» за {period} (часовой пояс {timezone}).",
        "Licence usage of {company} for {period} (timezone {timezone}).",
    ),
    "report.key_figures": ("Главные показатели:", "Key figures:"),
    "report.peak_at": ("пик {at}", "peak at {at}"),
    "report.of_limit": ("{pct} лимита {limit}", "{pct} of the limit of {limit}"),
    "report.no_activity": ("За этот период активности не было.", "There was no activity in this period."),
    "report.attachment": (
        "Все цифры по дням, мероприятия и таблицы — в приложенном файле Excel "
        "(тот же, что выгружается со страницы статистики за этот период).",
        "Every figure per day, the events and the tables are in the attached Excel "
        "file (the same as the statistics page downloads for this period).",
    ),
    "report.footer": (
        "Вы получаете это письмо, потому что подписались на отчёты в настройках "
        "статистики ВКурсе. Отписаться можно там же: {url}",
        "You receive this e-mail because you subscribed to reports in the VKurse "
        "statistics settings. Unsubscribe there: {url}",
    ),
    "report.month.1": ("январь", "January"),
    "report.month.2": ("февраль", "February"),
    "report.month.3": ("март", "March"),
    "report.month.4": ("апрель", "April"),
    "report.month.5": ("май", "May"),
    "report.month.6": ("июнь", "June"),
    "report.month.7": ("июль", "July"),
    "report.month.8": ("август", "August"),
    "report.month.9": ("сентябрь", "September"),
    "report.month.10": ("октябрь", "October"),
    "report.month.11": ("ноябрь", "November"),
    "report.month.12": ("декабрь", "December"),
    # --- the settings page ---------------------------------------------------------------------
    "nav.settings": ("Уведомления", "Notifications"),
    "settings.title": ("Уведомления и отчёты", "Notifications and reports"),
    "settings.reports": ("Отчёты по почте", "E-mail reports"),
    "settings.reports_hint": (
        "Письмо с главными показателями периода и файлом Excel приходит на {email} в {time} "
        "по времени компании ({timezone}): ежемесячный — 1-го числа за прошлый месяц, "
        "еженедельный — в понедельник за прошлую неделю.",
        "An e-mail with the period's key figures and the Excel file is sent to {email} at {time} "
        "company time ({timezone}): the monthly one on the 1st for the previous month, the weekly "
        "one on Monday for the previous week.",
    ),
    "settings.monthly": ("Ежемесячный отчёт", "Monthly report"),
    "settings.weekly": ("Еженедельный отчёт", "Weekly report"),
    "settings.lang": ("Язык писем", "Language of the e-mails"),
    "settings.save": ("Сохранить", "Save"),
    "settings.saved": ("Настройки сохранены.", "Settings saved."),
    "settings.send_now": ("Отправить сейчас", "Send now"),
    "settings.send_now_hint": (
        "Отчёт за последний завершённый период уйдёт в ближайшие секунды.",
        "The report of the last complete period is sent within seconds.",
    ),
    "settings.sent_now": (
        "Отчёт поставлен в очередь на отправку: {period}.",
        "The report is queued for sending: {period}.",
    ),
    "settings.operator_reports": (
        "Отчёты по почте получают администраторы компаний.",
        "E-mail reports are for company administrators.",
    ),
    "settings.webhook": ("Вебхук", "Webhook"),
    "settings.webhook_hint": (
        "События (например, превышение лимита) отправляются POST-запросом с телом JSON на этот "
        "адрес. Заголовок X-VKurse-Signature: sha256=<HMAC-SHA256 тела с секретом ниже>.",
        "Events (such as a licence limit reached) are sent as a POST with a JSON body to this "
        "address. Header X-VKurse-Signature: sha256=<HMAC-SHA256 of the body with the secret "
        "below>.",
    ),
    "settings.webhook_url": ("Адрес (https://…)", "URL (https://…)"),
    "settings.webhook_secret": ("Секрет подписи", "Signing secret"),
    "settings.webhook_new_secret": ("Новый секрет", "New secret"),
    "settings.webhook_test": ("Отправить проверочный", "Send a test"),
    "settings.webhook_remove": ("Удалить вебхук", "Remove the webhook"),
    "settings.webhook_saved": ("Вебхук сохранён.", "Webhook saved."),
    "settings.webhook_removed": ("Вебхук удалён.", "Webhook removed."),
    "settings.webhook_tested": ("Проверочный запрос поставлен в очередь.", "The test request is queued."),
    "settings.webhook_bad_url": (
        "Адрес вебхука должен начинаться с http:// или https://.",
        "The webhook URL must start with http:// or https://.",
    ),
    "settings.webhook_internal": (
        "Адрес ведёт во внутреннюю сеть ({address}): вебхуки отправляются только на публичные адреса.",
        "The URL leads into an internal network ({address}): webhooks are only sent to public addresses.",
    ),
    "settings.webhook_reserved": (
        "Адрес не публичный ({address}: диапазон особого назначения): вебхуки отправляются только на публичные адреса.",
        "The URL does not lead to a public address ({address}: a special-purpose range): webhooks are "
        "only sent to public addresses.",
    ),
    "settings.webhook_unresolved": (
        "Имя {host} не найдено в DNS: проверьте адрес вебхука.",
        "The name {host} does not resolve (DNS): check the webhook URL.",
    ),
    "settings.webhook_none": ("Вебхук не настроен.", "No webhook is set."),
    "settings.company": ("Компания: {company}", "Company: {company}"),
    "settings.smtp_off": (
        "Почтовый сервер не настроен: письма ждут в очереди, пока его не настроят (VKURSE_STATS_SMTP_HOST).",
        "No mail server is set: e-mails wait in the queue until one is (VKURSE_STATS_SMTP_HOST).",
    ),
    # --- deliveries (support) ------------------------------------------------------------------
    "nav.deliveries": ("Доставка", "Deliveries"),
    "deliveries.title": ("Доставка уведомлений", "Notification deliveries"),
    "deliveries.state": ("Состояние", "State"),
    "deliveries.any_state": ("Любое", "Any"),
    "deliveries.state.pending": ("В очереди", "Queued"),
    "deliveries.state.delivered": ("Доставлено", "Delivered"),
    "deliveries.state.failed": ("Не доставлено", "Failed"),
    "deliveries.channel": ("Канал", "Channel"),
    "deliveries.channel.email": ("Почта", "E-mail"),
    "deliveries.channel.webhook": ("Вебхук", "Webhook"),
    "deliveries.recipient": ("Кому", "To"),
    "deliveries.subject": ("Что", "What"),
    "deliveries.created": ("Создано (UTC)", "Created (UTC)"),
    "deliveries.attempts": ("Попыток", "Attempts"),
    "deliveries.next": ("Следующая попытка (UTC)", "Next attempt (UTC)"),
    "deliveries.delivered": ("Доставлено (UTC)", "Delivered (UTC)"),
    "deliveries.error": ("Последняя ошибка", "Last error"),
    "deliveries.retry": ("Повторить сейчас", "Retry now"),
    "deliveries.retried": (
        "Доставка {id} повторится в ближайшие секунды.",
        "Delivery {id} is tried again within seconds.",
    ),
    "deliveries.none": ("Доставок нет.", "No deliveries."),
    "deliveries.filter": ("Показать", "Show"),
    "audit.action.delivery.sent": ("Уведомление доставлено", "Notification delivered"),
    "audit.action.delivery.failed": ("Уведомление не доставлено", "Notification not delivered"),
    "audit.action.delivery.retry": ("Повтор доставки", "Delivery retried"),
    "audit.action.report.subscriptions": ("Подписка на отчёты", "Report subscriptions"),
    "audit.action.report.send_now": ("Отправка отчёта вручную", "Report sent by hand"),
    "audit.action.webhook.set": ("Изменение вебхука", "Webhook changed"),
    "audit.action.webhook.remove": ("Удаление вебхука", "Webhook removed"),
    "audit.action.webhook.test": ("Проверка вебхука", "Webhook test"),
}


def text(lang: str, key: str, **kw: Any) -> str:
    """The text of ``key`` in ``lang`` (Russian unless "en")."""
    ru, en = MESSAGES[key]
    value = en if lang == "en" else ru
    return value.format(**kw) if kw else value
