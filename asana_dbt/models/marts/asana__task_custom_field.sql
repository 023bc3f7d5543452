-- One row per task and custom field of its projects: the value in typed columns.
select
    cf.task_id,
    cf.custom_field_id,
    cf.custom_field_name,
    cf.custom_field_type,
    cf.display_value,
    cf.text_value,
    cf.number_value,
    cf.enum_value,
    cf.date_value,
    cf.display_value is not null as has_value
from {{ ref('stg_asana__task_custom_field') }} as cf
