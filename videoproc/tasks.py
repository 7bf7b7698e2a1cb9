"""Celery tasks of the project package: each calls one service; the logic lives there."""

from celery import shared_task

from . import webhooks


@shared_task
def deliver_webhook(delivery_id: int) -> None:
    """Try one webhook delivery if it is due and no other sender holds it (the row
    decides: a message sent twice, or for a delivery done since, does nothing)."""
    webhooks.delivery_send(delivery_id=delivery_id)
