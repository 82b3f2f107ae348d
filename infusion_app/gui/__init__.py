"""The desktop program (PySide6). The only package that imports Qt.

Widgets show and collect; every number and every rule comes from infusion_app.domain and every
stored fact from infusion_app.service. Start it with `infusion_app.gui.app.run()`.
"""
