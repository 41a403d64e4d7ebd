from voxgate.agents.docstring import parse


def test_google_style_summary_and_args():
    doc = parse(
        """Change the seat for a booking.

        Only economy seats can be chosen.

        Args:
            confirmation_number: The booking's confirmation number,
                six letters.
            new_seat (str): The seat, like 14C.

        Returns:
            A confirmation.
        """
    )
    assert doc.description == "Change the seat for a booking. Only economy seats can be chosen."
    assert doc.args == {
        "confirmation_number": "The booking's confirmation number, six letters.",
        "new_seat": "The seat, like 14C.",
    }


def test_no_docstring():
    assert parse(None).description == "" and parse("").args == {}
