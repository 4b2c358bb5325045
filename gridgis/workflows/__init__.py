"""Volunteer work: units' patrol tasks that volunteers grab, and cadres' service posts."""
