"""The app's jobs: found by tasks.contrib.django when Django starts, in the web process and in the workers."""

from django.core.mail import send_mail
from django.utils import timezone

from orders.models import Order
from tasks import job


@job(queue="confirmations", max_attempts=3, backoff=2)
def send_confirmation(order_id: int) -> str:
    """Mail the customer and mark the order confirmed: the row exists, since the job was sent after the commit."""
    order = Order.objects.get(pk=order_id)
    send_mail(f"Order {order.pk} confirmed", "Thank you!", "shop@example.com", [order.email])
    order.confirmed_at = timezone.now()
    order.save(update_fields=["confirmed_at"])
    return f"confirmation of order {order.pk} sent to {order.email}"
