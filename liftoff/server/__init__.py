"""The layer every Liftoff service is built on, and nothing else.

What each HTTP service needs the same way: API keys (``auth``), request-body limits
(``bodies``), request ids, the access log and request metrics (``observability``), JSON
logs (``logs``), the error base class and its rendering (``errors``), what the OpenAPI
document says about errors (``openapi``), and how a service runs as a process: started,
waited for and stopped with everything it started, its workers never outliving it
(``processes``).

Services (``liftoff.api``, ``liftoff.evaluation``) import this package; this package never
imports a service, and services never import each other (``make lint`` checks both with
import-linter). What belongs to one protocol or one service stays in that service: each
declares its own error shapes, statuses and exceptions.
"""
