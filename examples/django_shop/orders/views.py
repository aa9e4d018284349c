"""Placing an order dispatches its confirmation after the commit: never for an order that was rolled back."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from orders.jobs import send_confirmation
from orders.models import Order
from tasks.contrib.django import after_commit


@csrf_exempt  # an example API called with curl; keep CSRF protection in a real site's forms
@require_POST
def place_order(request: HttpRequest) -> JsonResponse:
    try:
        with transaction.atomic():
            order = Order.objects.create(email=request.POST.get("email", ""))
            confirmation = after_commit(send_confirmation).delay(order.pk)
            order.full_clean()  # a bad address rolls the order back, and its confirmation is never sent
    except ValidationError as exc:
        return JsonResponse({"error": exc.message_dict}, status=400)
    return JsonResponse({"order": order.pk, "confirmation_job": confirmation.id}, status=201)


@require_GET
def show_order(request: HttpRequest, order_id: int) -> JsonResponse:
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        return JsonResponse({"error": "no such order"}, status=404)
    return JsonResponse({"order": order.pk, "email": order.email, "confirmed": order.confirmed_at is not None})
