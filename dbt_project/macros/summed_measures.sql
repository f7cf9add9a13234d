{#- The counts every area level publishes, written once. int_commune_households_counted counts
    each from a commune's household rows (`count`: the aggregate over `classified`, the
    classified households, and `flows`, their flows) and commune_year adds them up,
    district_year and province_year sum it over the same reported communes with totals
    (macros/sum_commune_counts.sql), and the harmonised series (territory_year, through
    int_commune_years_apportioned) shares the ones marked `territory` out across the 2025
    reorganisation. A new count is one entry here.

    Each entry:
    - name: the published column;
    - count: its aggregate over one commune's household rows (none where another CTE of
      commune_year supplies it);
    - null_without: for a sum, the count of the same rows: the sum is NULL where that count is 0
      (a household's size is never NULL: the ingest quarantines such a row), which a count kept
      up to date by difference needs (int_commune_households_counted);
    - type: bigint, or double (counts of households shared out across 2025, summed exactly);
    - known: when a reported commune publishes it: `reported` (always), `flows` (only where the
      review's flows are known), `middle_line` (only under a standard with a middle line);
    - summed: how a larger area adds it up: `sum` (over its counted communes), `exact_sum` (the
      same, as exact decimals), `max`, or none (the area computes it itself: moves between
      areas);
    - section: where it stands in the published tables: `households` (before the rates),
      `details` (after them) or `checks` (the class by rule beside the official one, after the
      details; version 3 of the tables), in list order;
    - territory: also counted on every territory (published in territory_year);
    - apportioned: also carried per commune across the reorganisation, for the plans' targets. -#}
{% macro commune_measures() %}
    {{ return([
        {'name': 'assessed_households', 'count': 'count(*)', 'type': 'bigint',
         'known': 'reported', 'summed': 'sum', 'section': 'households', 'territory': true},
        {'name': 'poor_households', 'count': 'count(*) filter (where classified.is_poor)',
         'type': 'bigint', 'known': 'reported', 'summed': 'sum', 'section': 'households',
         'territory': true},
        {'name': 'poor_people',
         'count': 'sum(classified.household_size) filter (where classified.is_poor)',
         'null_without': 'poor_households',
         'type': 'bigint', 'known': 'reported', 'summed': 'sum', 'section': 'households',
         'territory': true},
        {'name': 'near_poor_households',
         'count': 'count(*) filter (where classified.is_near_poor)', 'type': 'bigint',
         'known': 'reported', 'summed': 'sum', 'section': 'households', 'territory': true},
        {'name': 'near_poor_people',
         'count': 'sum(classified.household_size) filter (where classified.is_near_poor)',
         'null_without': 'near_poor_households',
         'type': 'bigint', 'known': 'reported', 'summed': 'sum', 'section': 'households',
         'territory': true},
        {'name': 'middle_households',
         'count': "count(*) filter (where classified.official_class = 'middle')",
         'type': 'bigint', 'known': 'middle_line', 'summed': 'sum', 'section': 'households'},
        {'name': 'poor_ethnic_minority',
         'count': 'count(*) filter (where classified.is_poor and classified.is_ethnic_minority)',
         'type': 'bigint', 'known': 'reported', 'summed': 'sum', 'section': 'details'},
        {'name': 'poor_meritorious_family',
         'count': 'count(*) filter (where classified.is_poor and classified.is_meritorious_family)',
         'type': 'bigint', 'known': 'reported', 'summed': 'sum', 'section': 'details',
         'apportioned': true},
        {'name': 'poor_social_protection',
         'count': 'count(*) filter (where classified.is_poor and classified.is_social_protection)',
         'type': 'bigint', 'known': 'reported', 'summed': 'sum', 'section': 'details'},
        {'name': 'poor_no_labour_capacity',
         'count': 'count(*) filter (where classified.is_poor and classified.is_no_labour_capacity)',
         'type': 'bigint', 'known': 'reported', 'summed': 'sum', 'section': 'details'},
        {'name': 'poor_female_headed',
         'count': 'count(*) filter (where classified.is_poor and classified.is_female_headed)',
         'type': 'bigint', 'known': 'reported', 'summed': 'sum', 'section': 'details'},
        {'name': 'exited_poverty', 'count': "count(*) filter (where flows.flow = 'exited_poverty')",
         'type': 'bigint', 'known': 'flows', 'summed': 'sum', 'section': 'details'},
        {'name': 'newly_poor', 'count': "count(*) filter (where flows.flow = 'newly_poor')",
         'type': 'bigint', 'known': 'flows', 'summed': 'sum', 'section': 'details'},
        {'name': 'returned_to_poverty',
         'count': "count(*) filter (where flows.flow = 'returned_to_poverty')",
         'type': 'bigint', 'known': 'flows', 'summed': 'sum', 'section': 'details'},
        {'name': 'reappeared_poor',
         'count': "count(*) filter (where flows.flow = 'reappeared_poor')",
         'type': 'bigint', 'known': 'flows', 'summed': 'sum', 'section': 'details'},
        {'name': 'poor_not_reassessed', 'type': 'double', 'known': 'flows',
         'summed': 'exact_sum', 'section': 'details'},
        {'name': 'poor_moved_in', 'type': 'double', 'known': 'flows', 'section': 'details'},
        {'name': 'poor_moved_out', 'type': 'double', 'known': 'flows', 'section': 'details'},
        {'name': 'near_poor_to_poor',
         'count': "count(*) filter (where flows.near_poor_flow = 'near_poor_to_poor')",
         'type': 'bigint', 'known': 'flows', 'summed': 'sum', 'section': 'details'},
        {'name': 'poor_to_near_poor',
         'count': "count(*) filter (where flows.near_poor_flow = 'poor_to_near_poor')",
         'type': 'bigint', 'known': 'flows', 'summed': 'sum', 'section': 'details'},
        {'name': 'exited_near_poverty',
         'count': "count(*) filter (where flows.near_poor_flow = 'exited_near_poverty')",
         'type': 'bigint', 'known': 'flows', 'summed': 'sum', 'section': 'details'},
        {'name': 'newly_near_poor',
         'count': "count(*) filter (where flows.near_poor_flow = 'newly_near_poor')",
         'type': 'bigint', 'known': 'flows', 'summed': 'sum', 'section': 'details'},
        {'name': 'recently_exited_poverty',
         'count': 'count(*) filter (where flows.is_recently_exited_poverty)',
         'type': 'bigint', 'known': 'flows', 'summed': 'sum', 'section': 'details'},
        {'name': 'history_reviews', 'type': 'bigint', 'known': 'reported', 'summed': 'max',
         'section': 'details', 'keep_null': true},
        {'name': 'classification_mismatches',
         'count': 'count(*) filter (where classified.is_class_mismatch)', 'type': 'bigint',
         'known': 'reported', 'summed': 'sum', 'section': 'details'},
        {'name': 'unreported_class',
         'count': 'count(*) filter (where classified.reported_class is null)', 'type': 'bigint',
         'known': 'reported', 'summed': 'sum', 'section': 'details'},
        {'name': 'poor_households_by_rule',
         'count': 'count(*) filter (where classified.is_poor_by_rule)', 'type': 'bigint',
         'known': 'reported', 'summed': 'sum', 'section': 'checks', 'territory': true},
        {'name': 'near_poor_households_by_rule',
         'count': 'count(*) filter (where classified.is_near_poor_by_rule)', 'type': 'bigint',
         'known': 'reported', 'summed': 'sum', 'section': 'checks', 'territory': true},
        {'name': 'approved_poor_not_by_rule',
         'count': 'count(*) filter (where classified.is_approved_poor_not_by_rule)',
         'type': 'bigint', 'known': 'reported', 'summed': 'sum', 'section': 'checks',
         'territory': true},
        {'name': 'by_rule_poor_not_approved',
         'count': 'count(*) filter (where classified.is_by_rule_poor_not_approved)',
         'type': 'bigint', 'known': 'reported', 'summed': 'sum', 'section': 'checks',
         'territory': true},
        {'name': 'poor_social_protection_no_labour_capacity',
         'count': 'count(*) filter (where classified.is_poor and classified.is_social_protection'
            ~ ' and classified.is_no_labour_capacity)',
         'type': 'bigint', 'known': 'reported', 'summed': 'sum', 'section': 'checks'},
    ]) }}
{% endmacro %}

{#- The published column names of one section, comma separated, for a final select list. -#}
{% macro measure_columns(section) -%}
    {%- for measure in commune_measures() if measure.section == section -%}
        {{ measure.name }}{{ ',' if not loop.last }}
    {% endfor -%}
{%- endmacro %}

{#- One commune's aggregates (the select list of a query over `classified` and `flows`), or with
    `added_up` the same aggregates added up again over rows already counted (a commune's rows of
    int_commune_households_counted, its households split by where their codes place them):
    every one is a count or a sum. With `by_difference`, the same added up over rows counted
    with a sign (int_commune_households_counted's pre-2025 years corrected by difference), each
    in the type its own aggregate gives and a sum NULL where its count comes to 0. -#}
{% macro count_commune_measures(added_up=false, by_difference=false) -%}
    {%- for measure in commune_measures() if measure.count -%}
        {%- if by_difference -%}
            {%- set summed = 'sum(' ~ measure.name ~ ')' -%}
            {%- if measure.null_without -%}
                {%- set summed = 'case when sum(' ~ measure.null_without ~ ') <> 0 then '
                    ~ summed ~ ' end' -%}
            {%- endif -%}
            {#- The type one aggregate over the households gives: a count BIGINT, a sum of the
                INTEGER household size HUGEINT. -#}
            cast({{ summed }} as {{ 'hugeint' if measure.count.startswith('sum(') else 'bigint' }})
        {%- elif added_up -%}
            sum({{ measure.name }})
        {%- else -%}
            {{ measure.count }}
        {%- endif %} as {{ measure.name }}
        {{- ',' if not loop.last }}
    {% endfor -%}
{%- endmacro %}

{#- The names of the counted measures, comma separated (`negated`: each as its negative, under
    its own name). -#}
{% macro measure_names(negated=false) -%}
    {%- for measure in commune_measures() if measure.count -%}
        {{ '-' ~ measure.name ~ ' as ' ~ measure.name if negated else measure.name }}
        {{- ',' if not loop.last }}
    {% endfor -%}
{%- endmacro %}

{#- A commune's published value: NULL where the commune is not reported (nothing is known of
    it), where the measure's flows are unknown, or where the standard has no middle line. -#}
{% macro published_commune_measures() -%}
    {%- for measure in commune_measures() -%}
        {%- set condition = {
            'reported': 'is_reported',
            'flows': 'is_reported and has_known_flows',
            'middle_line': 'is_reported and has_middle_line',
        }[measure.known] -%}
        {%- set value = measure.name if measure.keep_null
            else 'coalesce(' ~ measure.name ~ ', 0)' -%}
        case when {{ condition }} then cast({{ value }} as {{ measure.type }}) end
            as {{ measure.name }}{{ ',' if not loop.last }}
    {% endfor -%}
{%- endmacro %}

{#- The measures the harmonised series shares out across the 2025 reorganisation. -#}
{% macro territory_measures(with_apportioned=false) -%}
    {%- set chosen = namespace(measures=[]) -%}
    {%- for measure in commune_measures()
        if measure.territory or (with_apportioned and measure.apportioned) -%}
        {%- set chosen.measures = chosen.measures + [measure] -%}
    {%- endfor -%}
    {{ return(chosen.measures) }}
{%- endmacro %}

{#- The rates version 3 adds, from an area's counts (a commune's, or an area's summed over its
    counted communes) in a rates CTE: the rate the new-rural-area criterion uses, which leaves out
    the poor households that are social-protection beneficiaries without labour capacity; and the
    ethnic-minority poverty rate over the ethnic-minority households of commune_totals (NULL where
    they are not given: never a rate over all households). -#}
{% macro derived_rates(counted, ethnic_minority_poor, prefix='') -%}
    case
        when {{ counted }}
            then
                100 * cast(
                    {{ prefix }}poor_households
                    - {{ prefix }}poor_social_protection_no_labour_capacity as double
                )
                / nullif({{ prefix }}total_households, 0)
    end as poverty_rate_excl_social_protection,
    case
        when {{ counted }}
            then
                100 * cast({{ ethnic_minority_poor }} as double)
                / nullif({{ prefix }}total_ethnic_minority_households, 0)
    end as poverty_rate_ethnic_minority
{%- endmacro %}
