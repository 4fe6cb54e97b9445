"""`imgbase update`, mirroring src/imgbased/plugins/update.py lines 60-73:
update mode, the new layer, and on any failure the new LVs are reset and
the exception is raised again."""


def update(app, previous, new, populate):
    app.imgbase.set_mode("update")
    try:
        return app.imgbase.add_layer(previous, new, populate)
    except Exception:
        app.imgbase.reset_registered_volumes()
        raise
