"""Label Studio's ML backend protocol: pre-annotation, feedback from annotations, and "Start Training".

`bp` is the Flask blueprint (prefix ``/label-studio``) that `service.create_app` registers.
"""

from service.label_studio.routes import bp

__all__ = ["bp"]
