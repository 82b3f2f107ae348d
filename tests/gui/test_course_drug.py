"""Issue 17: the course view and its forms read the course's own drug: the drugs a course is kept
for, that drug's response choices and warnings, never a list written in the GUI."""

from __future__ import annotations

from infusion_app.gui.course_view import CourseView
from infusion_app.service.course import CourseService
from tests.drugs import BESPONSA, MYLOTARG

from .test_course_view import fill_form, show


def combo_items(combo):
    return [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())]


def test_the_forms_offer_the_drugs_a_course_is_kept_for_and_their_own_responses(qtbot, service, pharmacist):
    courses = CourseService(service)
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    show(qtbot, view, "MRN7007")
    drugs = [data for _text, data in combo_items(view.forms.fields["new"]["drug"])]
    # Both drugs keep a course now (a MYLOTARG course follows its regimen: tests/gui/test_course_view_mylotarg.py).
    assert sorted(drugs) == sorted([BESPONSA.id, MYLOTARG.id])
    assert view.warnings_label.text() == ""  # no course shown: no drug's warnings
    assert fill_form(qtbot, view, "new", hsct="no") == "Course created."
    assert courses.course("MRN7007").monograph_id == BESPONSA.id
    responses = combo_items(view.forms.fields["response"]["response"])[1:]
    assert responses == [(words, key) for key, words in BESPONSA.response_choices()]
    assert BESPONSA.items("warnings.other")[0] in view.warnings_label.text()
    assert view.tabs.isTabVisible(view.tabs.indexOf(view.responses_table))


def test_the_course_form_shows_the_services_refusal_of_an_infant(qtbot, service, pharmacist, clock):
    """The label's minimum age refuses the course in the domain; the form only shows why (and stores nothing)."""
    from datetime import timedelta

    courses = CourseService(service)
    view = CourseView(service, pharmacist, courses=courses)
    qtbot.addWidget(view)
    view.resize(1280, 700)
    view.show()
    show(qtbot, view, "MRN7008")
    infant = (clock.now().date() - timedelta(days=183)).isoformat()
    message = fill_form(qtbot, view, "new", hsct="no", dob=infant)
    assert "under 1 year" in message and "not overridden" in message, message
    assert courses.course("MRN7008") is None
