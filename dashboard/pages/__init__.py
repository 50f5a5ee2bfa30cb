"""The dashboard's pages; each module's ``main()`` draws one page (run by ``dashboard/app.py``)."""
