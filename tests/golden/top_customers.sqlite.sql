WITH "T_0" AS (
  SELECT
    "c"."name",
    "o"."order_date"
  FROM "customers" AS "c"
  INNER JOIN "orders" AS "o"
    ON "c"."customer_id" = "o"."customer_id"
), "T_1" AS (
  SELECT
    "T_0"."name",
    COUNT(*) AS "orders"
  FROM "T_0"
  GROUP BY
    "T_0"."name"
  HAVING
    COUNT(*) >= 10
), "T_2" AS (
  SELECT
    "T_1"."name",
    "T_1"."orders"
  FROM "T_1"
  ORDER BY
    "T_1"."orders" DESC,
    "T_1"."name"
)
SELECT
  "T_2"."name",
  "T_2"."orders"
FROM "T_2"
ORDER BY
  "T_2"."orders" DESC,
  "T_2"."name"
LIMIT 5
