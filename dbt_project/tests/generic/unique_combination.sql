{#
  The combination of the given columns is unique: a table's key when it is more than one column
  (a programme and a family, a month and a kabupaten). Fails with the number of repeated keys.
#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_with_this_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
