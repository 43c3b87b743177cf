"""The BigQuery billing export's standard schema (detailed columns included), as msgspec
Structs: how `bq_rows` reads a line in one typed pass.

Every field is nullable (default None, and a None is left out when the row is encoded
again). Fields are declared in sorted order, so that encoding a row writes its keys
sorted, as the row's identity has them. Numbers are kept as their JSON text (`Raw`): the
identity normalises that text, the amounts are read from it exactly. A line with a field
not declared here, or a value of another kind than declared, is not read by this schema:
`bq_rows` reads it the general way instead.
"""

from msgspec import Raw, Struct


class Record(Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


class Label(Record):
    key: str | None = None
    value: str | None = None


class Named(Record):
    description: str | None = None
    id: str | None = None


class Ancestor(Record):
    display_name: str | None = None
    resource_name: str | None = None


class Project(Record):
    ancestors: list[Ancestor] | None = None
    ancestry_numbers: str | None = None
    id: str | None = None
    labels: list[Label] | None = None
    name: str | None = None
    number: str | None = None


class Location(Record):
    country: str | None = None
    location: str | None = None
    region: str | None = None
    zone: str | None = None


class Usage(Record):
    amount: Raw = None
    amount_in_pricing_units: Raw = None
    pricing_unit: str | None = None
    unit: str | None = None


class Credit(Record):
    amount: Raw = None
    full_name: str | None = None
    id: str | None = None
    name: str | None = None
    type: str | None = None


class Invoice(Record):
    month: str | None = None
    publisher_type: str | None = None


class Adjustment(Record):
    description: str | None = None
    id: str | None = None
    mode: str | None = None
    type: str | None = None


class Price(Record):
    effective_price: Raw = None
    pricing_unit_quantity: Raw = None
    tier_start_amount: Raw = None
    unit: str | None = None


class Resource(Record):
    global_name: str | None = None
    name: str | None = None


class Subscription(Record):
    instance_id: str | None = None


class Tag(Record):
    inherited: bool | None = None
    key: str | None = None
    namespace: str | None = None
    value: str | None = None


class Row(Record):
    adjustment_info: Adjustment | None = None
    billing_account_id: str | None = None
    consumption_model: Named | None = None
    cost: Raw = None
    cost_at_list: Raw = None
    cost_type: str | None = None
    credits: list[Credit] | None = None
    currency: str | None = None
    currency_conversion_rate: Raw = None
    export_time: str | None = None
    invoice: Invoice | None = None
    labels: list[Label] | None = None
    location: Location | None = None
    price: Price | None = None
    project: Project | None = None
    resource: Resource | None = None
    seller_name: str | None = None
    service: Named | None = None
    sku: Named | None = None
    subscription: Subscription | None = None
    system_labels: list[Label] | None = None
    tags: list[Tag] | None = None
    transaction_type: str | None = None
    usage: Usage | None = None
    usage_end_time: str | None = None
    usage_start_time: str | None = None


RECORDS = (
    Label,
    Named,
    Ancestor,
    Project,
    Location,
    Usage,
    Credit,
    Invoice,
    Adjustment,
    Price,
    Resource,
    Subscription,
    Tag,
    Row,
)
NO_NAMED, NO_PROJECT, NO_LOCATION = Named(), Project(), Location()  # for absent records
