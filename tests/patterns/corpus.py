"""The labelled corpus: PRDs (whole, or a few requirements) in several domains and shapes, with the patterns
each one really asks for, labelled by reading the text (not by running the detector).

The eleven example PRDs of ``examples/prd`` are part of it, read from their files. The labels name what the
service must do: ``crud`` when it creates/reads/updates/deletes records, ``aggregation`` when it folds records or
events into totals, counters, balances or statistics, ``calculation`` when it computes values by rules,
``transformation`` when it converts records between shapes or formats, ``validation`` when it checks inputs
against rules and rejects what breaks them, ``workflow`` when it coordinates a multi-step process,
``event_publishing`` when it publishes events for others, ``caching`` when it keeps results in a cache,
``authentication`` when it authenticates callers or authorizes their actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prd"


@dataclass(frozen=True)
class CorpusItem:
    """One labelled document."""

    id: str
    domain: str
    text: str
    patterns: frozenset[str]


def _item(id: str, domain: str, patterns: str, text: str) -> CorpusItem:
    return CorpusItem(id, domain, text.strip() + "\n", frozenset(patterns.split()))


def _example(file: str, domain: str, patterns: str) -> CorpusItem:
    return _item(f"example:{file}", domain, patterns, (EXAMPLES / file).read_text(encoding="utf-8"))


EXAMPLE_ITEMS = (
    _example("expense_approvals.md", "finance", "crud aggregation validation authentication"),
    _example("feature_flags.md", "developer tools", "crud caching event_publishing calculation aggregation"),
    _example("inventory_reservations.md", "retail", "crud validation calculation event_publishing"),
    _example("invoice_calculation.md", "billing", "crud calculation validation"),
    _example("library_loans.md", "public services", "crud validation calculation"),
    _example("loyalty_points.md", "retail", "crud aggregation calculation validation"),
    _example("marketplace_payouts.md", "payments", "crud aggregation calculation workflow validation"),
    _example("metrics_aggregator.md", "observability", "aggregation"),
    _example("order_fulfilment.md", "e-commerce", "crud workflow validation"),
    _example("parking_permits.txt", "public services", "crud calculation validation"),
    _example("support_triage.md", "customer support", "transformation calculation"),
)

WRITTEN_ITEMS = (
    _item(
        "clinic-appointments",
        "healthcare",
        "crud validation authentication",
        """
# Clinic Appointments

## Functional Requirements
1. Patients can book, reschedule and cancel appointments with a doctor.
2. An appointment cannot overlap another appointment of the same doctor; overlapping bookings are rejected.
3. Receptionists can list the appointments of a day.
4. Patients must log in with their email and password before booking; staff sign in through the hospital SSO.
""",
    ),
    _item(
        "patient-vitals",
        "healthcare",
        "aggregation transformation",
        """
# Patient Vitals Rollup

Bedside monitors send readings (heart rate, blood pressure, oxygen saturation) in the HL7 format.

- FR-001: Parse each HL7 message and convert it into our internal reading record.
- FR-002: Normalize units (mmHg, bpm, percent) before storing.
- FR-003: Keep a running total and an average per patient per hour, in a rolling time window of 24 hours.
- FR-004: Nurses see the hourly statistics of a patient on the ward dashboard.
""",
    ),
    _item(
        "loan-origination",
        "fintech",
        "workflow validation calculation crud",
        """
# Loan Origination Workflow

## Requirements
- The service orchestrates a loan application through these steps: identity check, credit scoring, underwriting
  decision, contract generation, disbursement.
- If the credit bureau is unavailable, fall back to the secondary bureau; if disbursement fails, compensate by
  cancelling the contract.
- Calculate the monthly instalment from the principal, the annual interest rate and the term.
- Validate that the applicant is at least 18 years old and that the requested amount is within the product limits.
- Store every application and its decision.
""",
    ),
    _item(
        "fx-rates-cache",
        "fintech",
        "caching transformation",
        """
# FX Rates Service

The service serves currency exchange rates to the checkout.

- Fetch rates from the central bank API and convert them to our decimal format with 6 places.
- Cache the latest rates in Redis with a TTL of 60 seconds so that checkout never waits for the bank.
- When the cache entry is stale, serve it while a refresh runs in the background.
""",
    ),
    _item(
        "wallet-balances",
        "fintech",
        "aggregation event_publishing validation",
        """
# Wallet Balances

## User Stories
As a wallet holder, I want my balance to reflect every deposit and withdrawal so that I know what I can spend.

Acceptance criteria:
- The balance is folded from the ledger events in order; a withdrawal larger than the balance is rejected.
- After each change the service publishes a BalanceChanged event to Kafka for the notification service.
""",
    ),
    _item(
        "product-catalog",
        "e-commerce",
        "crud caching validation",
        """
# Product Catalog

## Features
- Merchants create, edit and delete products with a name, a price, a SKU and stock.
- Product pages are read very often: cache product details for five minutes and invalidate the entry when the
  product is updated.
- A SKU must be unique; a product with a negative price is invalid and is rejected.
""",
    ),
    _item(
        "cart-pricing",
        "e-commerce",
        "calculation validation",
        """
# Cart Pricing

- [ ] P0 Compute the cart total from line prices, quantity discounts and the VAT of the delivery country.
- [ ] P0 Apply at most one coupon per cart; an expired coupon is rejected with a clear message.
- [ ] P1 Prices are rounded half-up to two decimals.
""",
    ),
    _item(
        "order-events",
        "e-commerce",
        "event_publishing crud",
        """
# Order Events

FR-1: When an order is created, updated or cancelled, store the change and publish an OrderChanged domain event
on the event bus.
FR-2: Subscribers (warehouse, email, analytics) receive the events in order per order id.
FR-3: Events carry the order id, the new status and the timestamp.
""",
    ),
    _item(
        "sensor-telemetry",
        "iot",
        "aggregation transformation",
        """
# Sensor Telemetry

Devices report temperature and humidity every 10 seconds as compact binary frames.

1. Decode each frame and transform it into a JSON reading with the device id and a UTC timestamp.
2. Aggregate readings into one-minute buckets: minimum, maximum and average per device.
3. Keep a counter of frames that could not be decoded per device.
""",
    ),
    _item(
        "device-provisioning",
        "iot",
        "workflow authentication crud",
        """
# Device Provisioning

## Scope
Provisioning a new device is a multi-step workflow: register the device, issue its certificate, push its
configuration, then mark it active. When a step fails, roll back the steps already done.

Devices authenticate with mutual TLS and a per-device API key. Operators can list, rename and retire devices.
""",
    ),
    _item(
        "firmware-rollout",
        "iot",
        "workflow event_publishing",
        """
# Firmware Rollout

- Roll out a firmware version in waves (1%, 10%, 50%, 100%) and coordinate each wave with the fleet manager.
- Pause the rollout and roll back when the crash rate of a wave exceeds 2%.
- Emit a RolloutProgressed event after every wave so the dashboard and the on-call channel can follow.
""",
    ),
    _item(
        "employee-onboarding",
        "hr",
        "workflow crud",
        """
# Employee Onboarding

As an HR partner, I want onboarding to run as one workflow (create the accounts, order the laptop, book the
induction, assign a buddy) so that nothing is forgotten.

Acceptance criteria:
- Each step runs after the previous one succeeds; a failed step is retried, then escalated to HR.
- HR can update and delete onboarding records.
""",
    ),
    _item(
        "timesheets",
        "hr",
        "crud validation aggregation",
        """
# Timesheets

## Functional Requirements
- Employees create and edit weekly timesheets with hours per project and day.
- A day cannot have more than 24 hours; a timesheet with hours on a public holiday is flagged as invalid.
- Managers see the total hours per project per month and the average hours per employee.
""",
    ),
    _item(
        "payroll-run",
        "hr",
        "calculation workflow",
        """
# Payroll Run

1. On the last working day, coordinate the payroll run: lock timesheets, compute salaries, pay, send payslips.
2. Calculate gross pay, income tax and social contributions for each employee by the rules of their country.
3. If the payment step fails for an employee, continue with the others and report the failure.
""",
    ),
    _item(
        "course-enrolment",
        "education",
        "crud validation authentication",
        """
# Course Enrolment

### FR-01 Enrol in a course
Students enrol in courses of their programme. A student is eligible only if the prerequisites are passed.

### FR-02 Manage courses
Teachers create, update and archive courses.

### FR-03 Access control
Only authenticated users can enrol; only teachers have permission to change a course (role-based access).
""",
    ),
    _item(
        "grade-book",
        "education",
        "calculation aggregation crud",
        """
# Grade Book

- Teachers record grades for assignments and exams.
- The final grade is calculated as a weighted score: 40% assignments, 60% exams.
- The grade book shows per-course statistics: average, median and distribution of the final grades.
""",
    ),
    _item(
        "shipment-tracking",
        "logistics",
        "transformation event_publishing crud",
        """
# Shipment Tracking

Carriers send tracking updates as CSV files or webhooks, each in its own format.

- Map every carrier format onto one TrackingUpdate record (carrier, tracking number, status, location, time).
- Store the updates and publish a ShipmentStatusChanged event for each status change.
- Customers look up a shipment by its tracking number.
""",
    ),
    _item(
        "route-planning",
        "logistics",
        "calculation caching",
        """
# Route Planning

The planner computes the delivery route of each van for the next day.

- Calculate the shortest route through all stops with their time windows, using travel times from the maps API.
- Travel times between two addresses change slowly: cache them for 24 hours to stay under the API quota.
""",
    ),
    _item(
        "warehouse-stock",
        "logistics",
        "crud aggregation",
        """
# Warehouse Stock

As a warehouse manager, I want to see the stock level of every item so that I can reorder in time.

Acceptance criteria:
- Goods received and goods shipped are recorded as stock movements.
- The stock level of an item is the sum of its movements, kept as a running total per warehouse.
- Items can be added, renamed and removed from the catalogue.
""",
    ),
    _item(
        "video-transcoding",
        "media",
        "workflow transformation",
        """
# Video Transcoding Pipeline

- Uploaded videos go through a pipeline: probe, transcode to 1080p/720p/480p, generate thumbnails, publish to
  the CDN. The orchestrator runs the steps in order and retries a failed step twice.
- Transcoding converts every upload to H.264 MP4 and normalizes the audio loudness.
""",
    ),
    _item(
        "article-search",
        "media",
        "caching crud",
        """
# Article Search

Editors write and publish articles; readers search them.

- Editors create, update and unpublish articles.
- Search results for popular queries are cached for 30 seconds; the cache hit rate must stay above 80%.
""",
    ),
    _item(
        "player-leaderboard",
        "gaming",
        "aggregation caching",
        """
# Player Leaderboard

- Every finished match adds the player's points to their season score.
- The leaderboard ranks players by season score and is read on every game screen, so the top 100 is served from
  an in-memory cache refreshed every 10 seconds.
- Weekly and all-time leaderboards are kept as well.
""",
    ),
    _item(
        "matchmaking",
        "gaming",
        "calculation validation",
        """
# Matchmaking

1. Compute a skill rating for each player from their match history with the Elo formula.
2. Match players whose ratings differ by at most 100 points; a party larger than 5 players is rejected.
""",
    ),
    _item(
        "api-gateway-auth",
        "saas",
        "authentication caching validation",
        """
# API Gateway Authentication

## Requirements
- Every request carries a JWT; the gateway verifies its signature and expiry and rejects invalid tokens.
- OAuth2 client credentials are supported for machine clients.
- Verified tokens are cached until they expire so that the identity provider is called once per token.
""",
    ),
    _item(
        "tenant-billing",
        "saas",
        "aggregation calculation crud",
        """
# Tenant Billing

- Record the API calls of each tenant.
- At the end of the month, total the calls per tenant and calculate the invoice amount from the tenant's price
  plan (tiered pricing with an included quota).
- Finance can list and correct invoices before they are sent.
""",
    ),
    _item(
        "audit-log",
        "saas",
        "crud event_publishing",
        """
# Audit Log

Every administrative action (user invited, role changed, setting updated) is stored as an audit entry with
the actor, the action and a timestamp, and published to the security team's topic in Kafka. Auditors can list
and export entries for a period.
""",
    ),
    _item(
        "password-reset",
        "saas",
        "authentication validation",
        """
# Password Reset

As a user who forgot my password, I want to reset it by email so that I can log in again.

Acceptance criteria:
- The reset link holds a one-time token valid for 30 minutes.
- The new password must have at least 12 characters; weaker passwords are rejected.
- After a reset, every session of the user is signed out.
""",
    ),
    _item(
        "csv-import",
        "data platform",
        "transformation validation",
        """
# Customer CSV Import

Sales uploads customer lists as CSV exports from three different CRMs.

- Convert each CRM's columns into our Customer record and normalize phone numbers to E.164.
- Validate every row: a row without an email or with an unknown country code is rejected and reported.
""",
    ),
    _item(
        "report-exports",
        "data platform",
        "transformation caching",
        """
# Report Exports

- Users export any report as CSV, XLSX or PDF; the service reformats the report's rows for each format.
- An export that was produced in the last hour for the same report and filters is served from the cache instead
  of being rendered again.
""",
    ),
    _item(
        "newsletter",
        "marketing",
        "crud workflow",
        """
# Newsletter Campaigns

- Marketers create, edit and delete campaigns with a subject, a body and an audience.
- Sending a campaign is a workflow: render, test send to the marketer, wait for approval, then send to the
  audience in batches of 1,000.
""",
    ),
    _item(
        "referral-rewards",
        "marketing",
        "calculation validation event_publishing",
        """
# Referral Rewards

FR-001: When a referred customer makes a first purchase, calculate the referrer's reward: 10% of the purchase,
at most 50 EUR.
FR-002: A customer cannot refer themselves; self-referrals are rejected.
FR-003: Publish a RewardGranted event so the wallet service credits the reward.
""",
    ),
    # Words in other senses: "publish" posts, "author", negated caching and login, "balance", calendar "events".
    _item(
        "blog-posts",
        "media",
        "crud",
        """
# Blog Posts

- Authors write, edit and publish posts; editors delete spam comments.
- Posts and comments are stored in PostgreSQL; readers list the posts of an author.
""",
    ),
    _item(
        "docs-site",
        "developer tools",
        "transformation",
        """
# Public Docs Site

## Requirements
- The site is public: no caching layer and no login are needed.
- The service converts the Markdown pages of the repository to HTML and rewrites relative links.
""",
    ),
    _item(
        "wellbeing-survey",
        "hr",
        "crud",
        """
# Wellbeing Survey

As an HR partner, I want employees to answer a short survey about their work-life balance so that HR can see
how each team is doing.

Acceptance criteria:
- Employees submit their answers once per quarter; HR can read and delete answers.
""",
    ),
    _item(
        "team-calendar",
        "productivity",
        "crud",
        """
# Team Calendar

1. Users create, move and cancel events in a shared team calendar.
2. Invited colleagues get a reminder by email 15 minutes before an event starts.
""",
    ),
)

CORPUS: tuple[CorpusItem, ...] = EXAMPLE_ITEMS + WRITTEN_ITEMS
"""Every labelled document."""
