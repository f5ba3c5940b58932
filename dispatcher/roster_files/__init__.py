"""Reading a roster's files (CSV as spreadsheets save it)."""
