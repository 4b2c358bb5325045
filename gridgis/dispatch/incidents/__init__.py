"""Incidents: idempotent intake, routing by category (data), recommendations and the timeline.

One module per concern; the names callers use are gathered here.
"""

from gridgis.dispatch.incidents.checks import MAX_PAGE
from gridgis.dispatch.incidents.intake import IncidentReport, IntakeResult, report_incident
from gridgis.dispatch.incidents.lifecycle import EventReport, add_event, next_status
from gridgis.dispatch.incidents.listing import IncidentPage, area_grid_prefix, list_incidents
from gridgis.dispatch.incidents.recommendation import RECOMMENDATIONS, Recommendation, recommend
from gridgis.dispatch.incidents.routing import CategoryRoute, categories, category_route
from gridgis.dispatch.incidents.shaping import get_incident

__all__ = [
    "MAX_PAGE",
    "RECOMMENDATIONS",
    "CategoryRoute",
    "EventReport",
    "IncidentPage",
    "IncidentReport",
    "IntakeResult",
    "Recommendation",
    "add_event",
    "area_grid_prefix",
    "categories",
    "category_route",
    "get_incident",
    "list_incidents",
    "next_status",
    "recommend",
    "report_incident",
]
