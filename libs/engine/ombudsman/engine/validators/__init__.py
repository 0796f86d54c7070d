"""Validators: the registry (entry-point group `ombudsman.validators`) and the validator API.

Write a validator:

```python
from ombudsman.engine.validators import Validator, ValidatorParams, ValidationContext, register

@register
class MyCheck(Validator):
    name = "my_check"; category = "quality"; description = "..."
    class Params(ValidatorParams):
        column: str
    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        rows = await ctx.rows_both(lambda side: ctx.select_from(side, ...))
        return ctx.result("passed", "...", source=..., target=...)
```

and expose it as `my_check = "mypkg.module:MyCheck"` in your package's
`[project.entry-points."ombudsman.validators"]`.
"""

from ombudsman.engine.validators.base import (
    ENTRY_POINT_GROUP,
    SIDES,
    NoParams,
    QueryError,
    Side,
    Sides,
    ValidationContext,
    ValidationInputError,
    Validator,
    ValidatorParams,
    get_validator,
    load_errors,
    register,
    run_validator,
    validators,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "SIDES",
    "NoParams",
    "QueryError",
    "Side",
    "Sides",
    "ValidationContext",
    "ValidationInputError",
    "Validator",
    "ValidatorParams",
    "get_validator",
    "load_errors",
    "register",
    "run_validator",
    "validators",
]
