from django import forms

from orders.models import MAX_AMOUNT, MIN_AMOUNT, Currency


class OrderForm(forms.Form):
    amount = forms.DecimalField(max_digits=9, decimal_places=2, min_value=MIN_AMOUNT, max_value=MAX_AMOUNT)
    currency = forms.ChoiceField(choices=Currency.choices)


class RefundRequestForm(forms.Form):
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))
