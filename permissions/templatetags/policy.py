"""Templates ask the same question as views: ``{% can "orders.pay_order" order as can_pay %}``."""

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def can(context, perm: str, obj=None) -> bool:
    return context["request"].user.has_perm(perm, obj)
